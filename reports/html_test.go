package reports

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	attrRef    = regexp.MustCompile(`(?i)\b(?:src|href|xlink:href|action|poster)\s*=\s*["']?([^"'\s>]*)`)
	cssURL     = regexp.MustCompile(`(?i)url\(\s*['"]?([^'")]*)`)
	absURL     = regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s"'<>)]*`)
	svgXMLNS   = regexp.MustCompile(`xmlns(?::xlink)?="http://www\.w3\.org/(?:2000/svg|1999/xlink)"`)
	tagLinkRef = regexp.MustCompile(`(?i)<(?:link|iframe|embed|object)\b|<script[^>]*\bsrc|@import`)
)

// externalRefs lists what a page would fetch from elsewhere: it must be
// nothing but #anchors and data: URIs.
func externalRefs(page string) []string {
	var bad []string
	for _, m := range attrRef.FindAllStringSubmatch(page, -1) {
		if v := m[1]; !strings.HasPrefix(v, "#") && !strings.HasPrefix(v, "data:") {
			bad = append(bad, m[0])
		}
	}
	for _, m := range cssURL.FindAllStringSubmatch(page, -1) {
		if v := m[1]; !strings.HasPrefix(v, "#") && !strings.HasPrefix(v, "data:") {
			bad = append(bad, m[0])
		}
	}
	bad = append(bad, tagLinkRef.FindAllString(page, -1)...)
	bad = append(bad, absURL.FindAllString(svgXMLNS.ReplaceAllString(page, ""), -1)...)
	return bad
}

func TestExternalRefsCatchesWhatLoadsFromElsewhere(t *testing.T) {
	for _, page := range []string{
		`<script src="x.js"></script>`, `<img src="chart.png">`, `<link rel=stylesheet href=a.css>`,
		`<style>@import "x.css"</style>`, `<div style="background:url(https://cdn/x.png)">`,
		`<a href="https://example.com/">`, `see http://example.com`, `<image xlink:href="a.png"/>`,
	} {
		if len(externalRefs(page)) == 0 {
			t.Errorf("externalRefs(%q) found nothing", page)
		}
	}
	ok := `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><a href="#top"></a><image xlink:href="data:image/png;base64,AAAA"/></svg>`
	if bad := externalRefs(ok); len(bad) > 0 {
		t.Errorf("externalRefs flags a self-contained page: %q", bad)
	}
}

// htmlReport renders the record in dir as HTML and checks the page holds
// everything it shows.
func htmlReport(t *testing.T, dir string) string {
	t.Helper()
	var page bytes.Buffer
	if err := HTML(&page, load(t, dir)); err != nil {
		t.Fatal(err)
	}
	if bad := externalRefs(page.String()); len(bad) > 0 {
		t.Errorf("the HTML report refers to things outside the file: %q", bad)
	}
	return page.String()
}

func TestHTMLIsSelfContained(t *testing.T) {
	page := htmlReport(t, fixtures(t)["complete"])
	if n := strings.Count(page, "<svg"); n != 8 {
		t.Errorf("the HTML report has %d inline SVG charts, want 8", n)
	}
	for _, want := range []string{
		"Connections: 20,000 requested, 19,200 connects, 19,140 held at end", // a chart title
		"3,840 conn/s mean",
		"eaddrnotavail",
		"loadhost-01",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the HTML report lacks %q", want)
		}
	}
}

// TestHTMLScreenshot renders the report in headless Chromium, when it is
// installed (CI installs it), and checks a real picture comes out. Set
// IMTOOL_KEEP_SCREENSHOT=DIR to keep the PNG for a look.
func TestHTMLScreenshot(t *testing.T) {
	page := htmlReport(t, fixtures(t)["complete"])
	screenshot(t, page, "complete")
}

func screenshot(t *testing.T, page, name string) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, name+".html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, name+".png")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--screenshot="+shot, "--window-size=1280,2400",
		"file://"+file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 2000 {
		t.Errorf("screenshot is %v, want 1280×2400", b)
	}
	// A blank page is one colour; charts and tables make many.
	colours := map[uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 7 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 7 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[r>>8<<16|g>>8<<8|b>>8] = true
		}
	}
	if len(colours) < 20 {
		t.Errorf("the screenshot has %d colours: the page looks empty", len(colours))
	}
	if keep := os.Getenv("IMTOOL_KEEP_SCREENSHOT"); keep != "" {
		data, _ := os.ReadFile(shot)
		os.WriteFile(filepath.Join(keep, name+".png"), data, 0o644)
		os.WriteFile(filepath.Join(keep, name+".html"), []byte(page), 0o644)
	}
}
