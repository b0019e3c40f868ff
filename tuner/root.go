package tuner

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/imtool/imtool/internal/host"
)

// rootFS resolves every path under a root directory, so the same code reads
// the host ("/"), a fixture tree or a scratch copy of one. Paths given to it
// are absolute-looking and slash-separated ("/proc/sys/fs/nr_open").
type rootFS struct {
	dir string
	// writeLive writes a live value (a /proc/sys file). Tests replace it to
	// make chosen writes fail; nil means a plain write.
	writeLive func(name string, data []byte) error
}

func (r rootFS) root() host.Root { return host.Root(r.dir) }

func (r rootFS) path(name string) string { return r.root().Path(name) }

func (r rootFS) read(name string) (string, error) { return r.root().Read(name) }

func (r rootFS) exists(name string) bool {
	_, err := os.Stat(r.path(name))
	return err == nil
}

// glob lists the names under dir matching pattern, sorted.
func (r rootFS) glob(dir, pattern string) []string {
	matches, _ := filepath.Glob(filepath.Join(r.path(dir), pattern))
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		out = append(out, path.Join(dir, filepath.Base(m)))
	}
	return out
}

// put writes a live value in place (files under /proc/sys cannot be
// replaced by rename).
func (r rootFS) put(name string, data []byte) error {
	if r.writeLive != nil {
		return r.writeLive(name, data)
	}
	f, err := os.OpenFile(r.path(name), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeAtomic replaces name with data through a temporary file in the same
// directory and a rename, so a reader never sees half a file.
func (r rootFS) writeAtomic(name string, data []byte, mode fs.FileMode) error {
	dst := r.path(name)
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// missingDirs lists, parent first, the directories that creating name
// would create.
func (r rootFS) missingDirs(name string) []string {
	var out []string
	for d := path.Dir(name); d != "/" && d != "."; d = path.Dir(d) {
		if r.exists(d) {
			break
		}
		out = append([]string{d}, out...)
	}
	return out
}

func (r rootFS) mkdirAll(dir string) error {
	return os.MkdirAll(r.path(dir), 0o755)
}

// removeEmptyDir removes dir if it exists and is empty.
func (r rootFS) removeEmptyDir(dir string) error {
	err := os.Remove(r.path(dir))
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if entries, rerr := os.ReadDir(r.path(dir)); rerr == nil && len(entries) > 0 {
		return fmt.Errorf("left %s in place: it is not empty", dir)
	}
	return err
}

func (r rootFS) remove(name string) error {
	err := os.Remove(r.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func rootOrSlash(dir string) string {
	if dir == "" {
		return "/"
	}
	return dir
}
