// Package browser runs a headless Chromium for the web app's tests: the
// pages are tested in a real browser (their scripts, htmx, dialogs, CSS),
// driven by chromedp over the DevTools protocol.
//
// A missing browser fails the test with how to install it. A browser test
// is never skipped: a skipped test is a green build that tested nothing.
//
// Screenshots go to $OPSFLOW_ARTIFACTS/screenshots when that is set (CI
// keeps them), else to a temporary folder that is kept and logged.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// PathEnv names a Chromium (or Chrome) binary to use instead of the one on
// PATH.
const PathEnv = "OPSFLOW_CHROMIUM"

// ArtifactsEnv names a folder for test artifacts.
const ArtifactsEnv = "OPSFLOW_ARTIFACTS"

// Find returns the browser binary: $OPSFLOW_CHROMIUM, else the first of
// chromium, chromium-browser, google-chrome on PATH.
func Find() (string, error) {
	if p := os.Getenv(PathEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", PathEnv, p, err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found: install it (Debian/Ubuntu: apt-get install -y chromium) or set " + PathEnv + " to a Chromium or Chrome binary")
}

// Browser is one headless Chromium.
type Browser struct {
	root context.Context // the browser's first tab: it starts the process
	dir  string
}

// Start starts a headless Chromium with a fresh profile; it stops when t
// ends. The flags are the ones that make Chromium quiet and safe to run in
// CI: headless, no sandbox (containers run as root), no GPU, and nothing
// that reaches the internet on its own.
func Start(t testing.TB) *Browser {
	t.Helper()
	path, err := Find()
	if err != nil {
		t.Fatalf("browser tests need a browser: %v", err)
	}
	profile, err := os.MkdirTemp("", "opsflow-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelRoot()
		cancel()
		_ = os.RemoveAll(profile)
	})
	// The first action starts the browser: fail here, with the reason,
	// rather than in the middle of a test. It runs on the context itself:
	// the browser lives as long as the context of its first action.
	if err := chromedp.Do(root, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	return &Browser{root: root, dir: artifacts(t)}
}

var (
	artifactsOnce sync.Once
	artifactsDir  string
	artifactsErr  error
)

// artifacts is the folder screenshots go to, made once per test binary.
func artifacts(t testing.TB) string {
	artifactsOnce.Do(func() {
		if d := os.Getenv(ArtifactsEnv); d != "" {
			artifactsDir = filepath.Join(d, "screenshots")
			artifactsErr = os.MkdirAll(artifactsDir, 0o755)
			return
		}
		artifactsDir, artifactsErr = os.MkdirTemp("", "opsflow-screenshots-")
	})
	if artifactsErr != nil {
		t.Fatalf("artifacts folder: %v", artifactsErr)
	}
	return artifactsDir
}

// Dir is where screenshots are written.
func (b *Browser) Dir() string { return b.dir }

// Tab opens a tab in a browser context of its own (its own cookies: one
// person signed in), closed when t ends.
func (b *Browser) Tab(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// Shot writes a full-page PNG of the tab's page as name.png and logs its
// path.
func (b *Browser) Shot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	return b.shot(t, ctx, name, chromedp.FullScreenshot(100))
}

// ShotViewport writes what the viewport shows (a phone's screen, a
// dialog) as name.png.
func (b *Browser) ShotViewport(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	return b.shot(t, ctx, name, chromedp.CaptureScreenshot())
}

func (b *Browser) shot(t testing.TB, ctx context.Context, name string, capture chromedp.Action[[]byte]) string {
	t.Helper()
	png, err := chromedp.Run(ctx, capture)
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(b.dir, strings.ReplaceAll(name, "/", "-")+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	t.Logf("screenshot: %s", p)
	return p
}
