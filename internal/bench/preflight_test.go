package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imtool/imtool/internal/portspec"
)

// fakeRoot copies the tuner's "fresh host" fixture and sets MemAvailable
// and any /proc/sys values given.
func fakeRoot(t *testing.T, memKB string, sysctls map[string]string) string {
	t.Helper()
	root := t.TempDir()
	src := filepath.Join("..", "..", "tuner", "testdata", "fresh")
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	write := func(rel, v string) {
		if err := os.WriteFile(filepath.Join(root, rel), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/sys/fs/epoll/max_user_watches", "5491533") // as on the 24 GiB machine this runs on
	write("proc/meminfo", "MemTotal:       25000000 kB\nMemFree:        24000000 kB\nMemAvailable:   "+memKB+" kB\n")
	for k, v := range sysctls {
		write(filepath.Join("proc/sys", strings.ReplaceAll(k, ".", "/")), v)
	}
	return root
}

func TestPreflight(t *testing.T) {
	ports, _ := portspec.Parse("20", 9000)
	for _, tc := range []struct {
		name    string
		memKB   string
		sysctls map[string]string
		want    []string // substrings of the refusal; none: accepted
	}{
		{name: "a host that can", memKB: "23000000"},
		{name: "too little memory", memKB: "4000000",
			want: []string{"memory: 1000000 connections need ≈ 8.", "only 3.8 GiB is available", "use --conns 4"}},
		{name: "file-max too low", memKB: "23000000", sysctls: map[string]string{"fs.file-max": "1000000"},
			want: []string{"fs.file-max is 1000000, needs ≥ 2200000", "imtool tune apply --role both --conns 1000000"}},
		{name: "epoll watches too low", memKB: "23000000", sysctls: map[string]string{"fs.epoll.max_user_watches": "500000"},
			want: []string{"fs.epoll.max_user_watches is 500000"}},
		{name: "nr_open below the fd limit", memKB: "23000000", sysctls: map[string]string{"fs.nr_open": "1000"},
			want: []string{"fs.nr_open is 1000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Preflight(fakeRoot(t, tc.memKB, tc.sysctls), 1000000, ports)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
