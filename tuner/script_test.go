package tuner

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

func TestScriptGolden(t *testing.T) {
	for _, goos := range []string{"linux", "windows"} {
		var b bytes.Buffer
		if err := Script(&b, goos, goldenTarget()); err != nil {
			t.Fatal(err)
		}
		ext := map[string]string{"linux": "sh", "windows": "ps1"}[goos]
		golden(t, "script-"+goos+"."+ext, b.Bytes())
		if goos == "linux" {
			shellSyntax(t, b.String())
		}
	}
	if err := Script(&bytes.Buffer{}, "plan9", goldenTarget()); err == nil {
		t.Error("want an error for --os plan9")
	}
}

// shellSyntax parses the script with sh -n, which runs nothing.
func shellSyntax(t *testing.T, script string) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to check the script's syntax")
	}
	cmd := exec.Command("sh", "-n")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v: %s", err, out)
	}
}
