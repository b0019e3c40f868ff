// Package host is what imtool knows about the machine it runs on and what
// that machine can hold: the fd limit (RLIMIT_NOFILE), the local port
// range, CPUs, memory and kernel, read through a root directory so that
// tests read fixture trees, and the one formula for how many connections a
// process holds under an fd limit. plan, swarm, server, tune and bench's
// preflight all read the host here.
package host

import (
	"os"
	"path/filepath"
	"strings"
)

// Root is the directory the host's files are read under: "/" (or "") is
// this machine, any other directory a fixture tree with the same layout.
type Root string

// Machine is this machine's own root.
const Machine Root = "/"

// Path is name ("/proc/sys/fs/nr_open", slash-separated, absolute-looking)
// under the root.
func (r Root) Path(name string) string {
	dir := string(r)
	if dir == "" {
		dir = "/"
	}
	return filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(name, "/")))
}

// Read is the content of name under the root.
func (r Root) Read(name string) (string, error) {
	b, err := os.ReadFile(r.Path(name))
	return string(b), err
}

// machine says whether r is this machine, where a fact missing from the
// files (no /proc outside Linux) may be asked of the kernel instead.
func (r Root) machine() bool { return r == "" || r == Machine }
