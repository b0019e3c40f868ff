package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// proxyVersion is the version the test publishes to its file proxy.
const proxyVersion = "v0.0.1-proxytest"

// The README's install command works the way a user runs it: the working
// tree is published as a module version to a file-based GOPROXY (its zip
// made by golang.org/x/mod/zip, with the checks proxy.golang.org makes),
// the command is installed from there with a fresh module cache and no main
// module, and the binary it installs reports that version. This fails while
// go.mod has a replace directive or the module leaves out a package it
// builds from (a nested module is not in the zip).
func TestInstallFromModuleProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("installs the command from a module proxy: not in -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	target := readmeInstallTarget(t, filepath.Join(root, "README.md"))
	modPath := strings.SplitN(target, "/cmd/", 2)[0]

	work := t.TempDir()
	proxy := filepath.Join(work, "proxy")
	publish(t, root, proxy, modPath, proxyVersion)

	// Dependencies come from this machine's module cache, which has the
	// layout of a proxy; nothing is fetched from the network.
	out, err := exec.Command(goBin, "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	depCache := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")

	modCache := filepath.Join(work, "modcache")
	gobin := filepath.Join(work, "bin")
	env := append(os.Environ(),
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(depCache),
		// The test's version is in no checksum database, and the test
		// reaches none: hashes are the ones of the cache the proxy serves.
		"GOSUMDB=off",
		// -trimpath keeps compile results independent of the fresh module
		// cache's path, so a rerun takes seconds from the build cache
		// instead of compiling every dependency again.
		"GOFLAGS=-trimpath",
		"GOPRIVATE=",
		"GONOPROXY=",
		"GOWORK=off",
		"GOTOOLCHAIN=local",
		"GOMODCACHE="+modCache,
		"GOBIN="+gobin,
	)
	// The module cache is read-only; go clean removes it.
	t.Cleanup(func() {
		c := exec.Command(goBin, "clean", "-modcache")
		c.Env, c.Dir = env, work
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("go clean -modcache: %v\n%s", err, out)
		}
	})

	install := exec.Command(goBin, "install", target+"@latest")
	install.Env, install.Dir = env, work // outside any module, as a user
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install %s@latest from the file proxy: %v\n%s", target, err, out)
	}
	bin := filepath.Join(gobin, "imtool")
	got, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, got)
	}
	if want := "imtool version " + proxyVersion; strings.TrimSpace(string(got)) != want {
		t.Fatalf("installed imtool --version = %q, want %q", strings.TrimSpace(string(got)), want)
	}
}

// readmeInstallTarget returns the package of the README's
// `go install <package>@latest` line.
func readmeInstallTarget(t *testing.T, readme string) string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+go install (\S+)@latest$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no indented `go install …@latest` line", readme)
	}
	return string(m[1])
}

// publish lays out version of the module at root in proxy as a GOPROXY
// serves it: @v/list, .info, .mod and the .zip of the files git would ship
// (tracked or untracked but not ignored, as they are in the working tree).
func publish(t *testing.T, root, proxy, modPath, version string) {
	t.Helper()
	esc, err := module.EscapePath(modPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(proxy, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Now().UTC().Truncate(time.Second)})
	for name, data := range map[string][]byte{
		"list":            []byte(version + "\n"),
		version + ".info": info,
		version + ".mod":  gomod,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = root
	out, err := ls.Output()
	if err != nil {
		t.Fatalf("git ls-files in %s (the test ships what git would): %v", root, err)
	}
	var files []modzip.File
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Split(splitNUL)
	for sc.Scan() {
		p := sc.Text()
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			continue // deleted in the working tree, not yet in the index
		}
		files = append(files, treeFile{root: root, path: p})
	}
	z, err := os.Create(filepath.Join(dir, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if err := modzip.Create(z, module.Version{Path: modPath, Version: version}, files); err != nil {
		t.Fatalf("module zip of %s: %v", root, err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
}

func splitNUL(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// treeFile is a file of the working tree, named by its slash path in the module.
type treeFile struct{ root, path string }

func (f treeFile) Path() string { return f.path }
func (f treeFile) Lstat() (os.FileInfo, error) {
	return os.Lstat(filepath.Join(f.root, filepath.FromSlash(f.path)))
}
func (f treeFile) Open() (io.ReadCloser, error) {
	return os.Open(filepath.Join(f.root, filepath.FromSlash(f.path)))
}
