//go:build !unix

package agent

import "os"

// privateFile accepts every file where permission bits do not say who may
// read it (Windows: ACLs do); keep the file in a directory only its owner
// and Administrators may read.
func privateFile(*os.File, string) error { return nil }
