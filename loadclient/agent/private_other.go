//go:build !windows

package agent

import (
	"fmt"
	"os"
)

// privateFile refuses a secret file (a token, a TLS key) that anybody but its
// owner may read or write: the group and other permission bits must be 0.
func privateFile(f *os.File, path string) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot check %s: %w", path, err)
	}
	if mode := st.Mode().Perm(); mode&0o077 != 0 {
		return fmt.Errorf("%s is open to others (mode %04o): it holds a secret; make it private with chmod 600 %s", path, mode, path)
	}
	return nil
}
