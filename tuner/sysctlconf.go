package tuner

import (
	"path"
	"sort"
	"strings"
)

// sysctlConfDirs are read in this order of precedence: a file name found in
// an earlier directory hides the same name in later ones (systemd-sysctl and
// procps agree on this).
var sysctlConfDirs = []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"}

// imtoolSysctlConf is the file apply owns.
const imtoolSysctlConf = "/etc/sysctl.d/90-imtool.conf"

// confValue is a persisted value and the file it comes from.
type confValue struct {
	value string
	file  string
}

// sysctlFiles lists the files applied at boot, in the order they are read:
// all *.conf sorted by name, then /etc/sysctl.conf, which `sysctl --system`
// reads last (Debian also links it as 99-sysctl.conf).
func sysctlFiles(fs rootFS) []string {
	byName := map[string]string{}
	for _, dir := range sysctlConfDirs {
		for _, f := range fs.glob(dir, "*.conf") {
			if _, hidden := byName[path.Base(f)]; !hidden {
				byName[path.Base(f)] = f
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	files := make([]string, 0, len(names)+1)
	for _, n := range names {
		files = append(files, byName[n])
	}
	if fs.exists("/etc/sysctl.conf") {
		files = append(files, "/etc/sysctl.conf")
	}
	return files
}

// persistedSysctls returns, per key, the value the host gets at boot: the
// last assignment across sysctlFiles.
func persistedSysctls(fs rootFS) map[string]confValue {
	out := map[string]confValue{}
	for _, f := range sysctlFiles(fs) {
		text, err := fs.read(f)
		if err != nil {
			continue
		}
		for _, kv := range parseSysctlConf(text) {
			out[kv[0]] = confValue{value: kv[1], file: f}
		}
	}
	return out
}

// parseSysctlConf reads "key = value" lines in file order, skipping
// comments; keys written with slashes are normalised to dots.
func parseSysctlConf(text string) [][2]string {
	var out [][2]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(k), "-"), "/", ".")
		out = append(out, [2]string{k, strings.Join(strings.Fields(v), " ")})
	}
	return out
}
