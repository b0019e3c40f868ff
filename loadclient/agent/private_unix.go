//go:build unix

package agent

import (
	"fmt"
	"os"
	"syscall"
)

// privateFile refuses a secret file (a token, a TLS key) that others may
// read or write. As PostgreSQL does for its key, the group may read a file
// that root owns (Kubernetes mounts a Secret that way for a pod's fsGroup);
// a file of any other owner must be private to it (chmod 600).
func privateFile(f *os.File, path string) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot check %s: %w", path, err)
	}
	mode := st.Mode().Perm()
	rootOwned := false
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		rootOwned = sys.Uid == 0
	}
	if mode&0o007 != 0 || mode&0o020 != 0 || (mode&0o070 != 0 && !rootOwned) {
		return fmt.Errorf("%s is open to others (mode %04o): it holds a secret; make it private with chmod 600 %s", path, mode, path)
	}
	return nil
}
