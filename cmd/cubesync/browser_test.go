package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cubesync/cubesync/internal/testutil"
)

// chromium finds a headless-capable Chromium. Without one the test skips on a developer's
// machine, saying what to install, and fails in CI (.ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" || os.Getenv("CUBESYNC_SCREENSHOTS") != "" {
		t.Fatal("no chromium on PATH: CI must run the status page browser test (apt-get install -y chromium)")
	}
	t.Skip("no chromium on PATH: install it (Debian: apt-get install -y chromium) to run the status page browser test")
	return ""
}

// screenshotDir is where the screenshots go: CUBESYNC_SCREENSHOTS (set by .ci/run, kept as
// a CI artifact), else the test's temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("CUBESYNC_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// The status page as an operator reads it in a real browser: a serve with one failing and
// one healthy job puts the failing one at the top with its error on one line and "never
// succeeded"; each job shows its dataset, schedule, next run and runs with attempt
// numbers; a run's page has the full error, or the per-table figures; and on a phone the
// page does not scroll sideways.
func TestStatusPageInBrowser(t *testing.T) {
	exe := chromium(t)
	shots := screenshotDir(t)
	_, baseURL := startEmulator(t)
	dir := t.TempDir()
	config := writeConfigIn(t, dir, serveHead("", baseURL)+
		storesJob(t, "stores_sync", "Store Master", `description = "Store master data, replaced every run"`, `schedule = "@every 2s"`, "retry = { attempts = 1 }")+`
[jobs.nightly_orders]
description = "Orders export from the shop"
schedule = "@every 2s"
target = "emu"
dataset = { name = "Shop Orders" }
retry = { attempts = 2, initial_delay = "100ms" }
[[jobs.nightly_orders.tables]]
name = "orders"
policy = "replace"
parquet = "exports/orders/*.parquet"
`)
	t.Chdir(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := serveInProcess(t, ctx, "serve", "--config", config)
	base := "http://" + listenAddr(t, p.stderr)
	testutil.WaitFor(t, 30*time.Second, "a success of stores_sync and two attempts of nightly_orders", func() bool {
		var ok, failed int
		for _, l := range p.stderr.LogLines("run finished") {
			switch {
			case l["job"] == "stores_sync" && l["status"] == "succeeded":
				ok++
			case l["job"] == "nightly_orders" && l["status"] == "failed":
				failed++
			}
		}
		return ok >= 1 && failed >= 2
	})

	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true))...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	bctx, tcancel := context.WithTimeout(bctx, 60*time.Second)
	defer tcancel()

	text1280 := pageText(t, bctx, base+"/", 1280, 900, false, filepath.Join(shots, "status-1280.png"))
	attention := evalString(t, bctx, `document.querySelector("section.attention").innerText`)
	if !strings.HasPrefix(strings.TrimSpace(strings.SplitN(text1280, "\n", 3)[2]), "Needs attention") {
		t.Errorf("the page does not open with what needs attention:\n%s", text1280)
	}
	for _, want := range []string{"Needs attention (1 of 2 jobs)", "FAILING", "nightly_orders", "Shop Orders", "never succeeded", "no parquet files"} {
		if !strings.Contains(attention, want) {
			t.Errorf("the top of the page lacks %q:\n%s", want, attention)
		}
	}
	if strings.Contains(attention, "Store Master") {
		t.Errorf("the healthy job is listed among those needing attention:\n%s", attention)
	}
	for _, want := range []string{"stores_sync", "Store Master", "@every 2s", "next run", "attempt", "succeeded", "failed", "last success"} {
		if !strings.Contains(text1280, want) {
			t.Errorf("the status page lacks %q:\n%s", want, text1280)
		}
	}
	if scripts := evalInt(t, bctx, `document.scripts.length`); scripts != 0 {
		t.Errorf("the page has %d scripts; it must work without JavaScript", scripts)
	}
	// A missing file is an input error: it fails on its first attempt and is not retried.
	if n := evalInt(t, bctx, `[...document.querySelectorAll("tr")].filter(r => r.cells.length > 2 && r.cells[2].innerText.trim() === "1" && r.innerText.includes("failed")).length`); n == 0 {
		t.Errorf("no run row shows the attempt number of a failed run:\n%s", text1280)
	}

	// The failing job's latest run: its page has the whole error.
	failedRun := evalString(t, bctx, `document.querySelector("#job-nightly_orders td a").href`)
	runText := pageText(t, bctx, failedRun, 1280, 900, false, filepath.Join(shots, "run-failed-1280.png"))
	for _, want := range []string{"nightly_orders", "failed", "Error", "no parquet files", "exports/orders/*.parquet", "attempt"} {
		if !strings.Contains(runText, want) {
			t.Errorf("the failed run's page lacks %q:\n%s", want, runText)
		}
	}
	pageText(t, bctx, base+"/", 1280, 900, false, "")
	okRun := evalString(t, bctx, `[...document.querySelectorAll("#job-stores_sync tr")].find(r => r.innerText.includes("succeeded")).querySelector("a").href`)
	okText := pageText(t, bctx, okRun, 1280, 900, false, filepath.Join(shots, "run-ok-1280.png"))
	for _, want := range []string{"Tables", "stores", "replace", "25"} {
		if !strings.Contains(okText, want) {
			t.Errorf("the succeeded run's page lacks %q:\n%s", want, okText)
		}
	}

	// On a phone: the same first lines, and no sideways scrolling of the page.
	phone := pageText(t, bctx, base+"/", 390, 844, true, filepath.Join(shots, "status-phone.png"))
	if !strings.Contains(phone, "Needs attention") || !strings.Contains(phone, "nightly_orders") {
		t.Errorf("on a phone the page lacks what needs attention:\n%s", phone)
	}
	if w, vw := evalInt(t, bctx, `document.documentElement.scrollWidth`), evalInt(t, bctx, `window.innerWidth`); w > vw+1 {
		t.Errorf("on a 390px phone the page is %dpx wide: it scrolls sideways", w)
	}
	if top := evalInt(t, bctx, `Math.round(document.querySelector("section.attention").getBoundingClientRect().top)`); top > 400 {
		t.Errorf("on a phone what needs attention starts %dpx down, want it on the first screen", top)
	}
	t.Logf("screenshots in %s", shots)
}

// pageText loads url at the given viewport, saves a full-page screenshot to shot (unless
// empty) and returns the page's text as the browser lays it out.
func pageText(t *testing.T, ctx context.Context, url string, w, h int64, mobile bool, shot string) string {
	t.Helper()
	var opts []chromedp.EmulateViewportOption
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait, chromedp.EmulateScale(2))
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h, opts...), chromedp.Navigate(url)); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	if shot != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
		if err != nil {
			t.Fatalf("screenshot of %s: %v", url, err)
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return evalString(t, ctx, `document.body.innerText`)
}

func evalString(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

func evalInt(t *testing.T, ctx context.Context, expr string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return n
}
