package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lanemesh/lanemesh/internal/guard"
)

// TestDashboardInChromium opens the dashboard of a real mesh in headless
// Chromium (Debian's package) as a user would, from the URL `lanemesh
// dashboard` prints: the page loads, its lanes × services matrix shows the
// tutorial's 3 × 3, and when mockb-v2 is scaled to 0 under load, its cell
// turns to "fallback" and lane v2's graph shows mocka v2 → mockb v1
// fallback traffic within seconds, without a reload. It keeps screenshots
// in an artifacts directory it prints, and reports page weight and time to
// first paint. Without Chromium it skips, unless LANEMESH_REQUIRE_CHROMIUM
// is set (CI sets it: .ci/run installs the package).
func TestDashboardInChromium(t *testing.T) {
	browser := chromium(t)
	artifacts := artifactsDir(t)
	m := startMesh(t, lanes, fallback)
	token, err := guard.ReadToken(m.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	// Data needs the token; the page's files do not.
	if code := status(t, m.AdminURL()+"/v1/dashboard", ""); code != http.StatusUnauthorized {
		t.Fatalf("GET /v1/dashboard without a token: %d, want 401", code)
	}
	if code := status(t, m.AdminURL()+"/ui/", ""); code != http.StatusOK {
		t.Fatalf("GET /ui/ without a token: %d, want 200", code)
	}

	load := runLoad(3, 20*time.Millisecond, func(i int) (bool, string) {
		body, code := get(m.GatewayURL()+"/mock", []string{"v1", "v2", "v3"}[i%3])
		return code == 200, fmt.Sprintf("%d %s", code, body)
	})
	finished := false
	defer func() {
		if !finished {
			load.finish()
		}
	}()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1350), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	url := strings.TrimSpace(lanemesh(t, m, "dashboard"))
	if want := m.AdminURL() + "/ui/#token=" + token; url != want {
		t.Fatalf("lanemesh dashboard printed %q, want %q", url, want)
	}
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(`body[data-ready="true"]`)); err != nil {
		t.Fatalf("the page never showed the mesh: %v", err)
	}
	t.Logf("page loaded and showed the first state in %v", time.Since(start).Round(time.Millisecond))
	type perfs struct {
		FirstPaint, FirstContentfulPaint float64
		Bytes                            int
		Files                            []string
	}
	// The page can report ready in the frame before the browser records
	// that frame's paint timing, so the entry is waited for (up to 5 s);
	// a page that never paints still reads 0 and fails below.
	perf, err := chromedp.Run(ctx, chromedp.Evaluate[perfs](`(async () => {
		const painted = () => performance.getEntriesByType("paint").some(e => e.name === "first-contentful-paint");
		for (let i = 0; i < 100 && !painted(); i++) await new Promise(r => setTimeout(r, 50));
		const paint = Object.fromEntries(performance.getEntriesByType("paint").map(e => [e.name, e.startTime]));
		const nav = performance.getEntriesByType("navigation")[0];
		const res = performance.getEntriesByType("resource").filter(r => r.name.includes("/ui/"));
		return { FirstPaint: paint["first-paint"] || 0, FirstContentfulPaint: paint["first-contentful-paint"] || 0,
			Bytes: nav.encodedBodySize + res.reduce((n, r) => n + r.encodedBodySize, 0),
			Files: [nav.name.split("#")[0], ...res.map(r => r.name)] };
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("page weight %d bytes (%d files: %s); first paint %.0f ms, first contentful paint %.0f ms",
		perf.Bytes, len(perf.Files), strings.Join(perf.Files, " "), perf.FirstPaint, perf.FirstContentfulPaint)
	if perf.FirstContentfulPaint == 0 || len(perf.Files) != 3 {
		t.Errorf("the page should paint from its three embedded files: %+v", perf)
	}

	matrix, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#matrix td.cell")].map(c => c.dataset.service + "/" + c.dataset.lane + "=" + c.dataset.state)`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mocka/v1=ok", "mocka/v2=ok", "mocka/v3=ok", "mockb/v1=ok", "mockb/v2=ok", "mockb/v3=ok", "mockc/v1=ok", "mockc/v2=ok", "mockc/v3=ok"}
	if strings.Join(matrix, " ") != strings.Join(want, " ") {
		t.Fatalf("matrix:\n got %v\nwant %v", matrix, want)
	}
	waitPage(t, ctx, artifacts, "lane v2's graph to show mocka v2 → mockb v2 traffic", 15*time.Second,
		`!!document.querySelector('.graph[data-lane="v2"] tr[data-from="mocka"][data-to="mockb"][data-to-version="v2"]')`)
	screenshot(t, ctx, filepath.Join(artifacts, "1-lanes.png"))

	scaled := time.Now()
	scale(t, m, "mockb-v2", 0)
	waitPage(t, ctx, artifacts, "mockb v2's cell to turn to fallback", 15*time.Second,
		`document.querySelector('#matrix td[data-service="mockb"][data-lane="v2"]').dataset.state === "fallback"`)
	cellAfter := time.Since(scaled)
	waitPage(t, ctx, artifacts, "lane v2's graph to show fallback traffic to mockb v1", 15*time.Second,
		`(() => { const r = document.querySelector('.graph[data-lane="v2"] tr.fb[data-from="mocka"][data-to="mockb"][data-to-version="v1"]');
		  return !!r && parseFloat(r.querySelector(".fbrate").textContent) > 0; })()`)
	t.Logf("after scaling mockb-v2 to 0: cell turned in %v, fallback traffic shown in %v",
		cellAfter.Round(time.Millisecond), time.Since(scaled).Round(time.Millisecond))
	waitPage(t, ctx, artifacts, "a fallback event", 10*time.Second,
		`[...document.querySelectorAll("#events li.fallback")].some(li => li.textContent.includes("mocka v2 → mockb fell back to v1"))`)

	// Why did lane v2's request go where it went? explain, on the live mesh.
	if err := chromedp.Do(ctx, chromedp.Click(`#matrix th.lane[data-lane="v2"]`)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, artifacts, "the explanation of lane v2", 10*time.Second, `document.getElementById("why").textContent.includes("mockb-v1-0")`)
	why, err := chromedp.Run(ctx, chromedp.Text("#why"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(why, "fallback mockb/v1 (serving now") {
		t.Errorf("the explanation should say the fallback serves mockb now:\n%s", why)
	}
	screenshot(t, ctx, filepath.Join(artifacts, "2-mockb-v2-scaled-to-0.png"))

	finished = true
	if sent, failed, examples := load.finish(); failed > 0 {
		t.Errorf("%d of %d requests failed while mockb-v2 went away: %v", failed, sent, examples)
	}
	t.Logf("screenshots in %s", artifacts)
}

// chromium finds Debian's Chromium, or skips (fails when
// LANEMESH_REQUIRE_CHROMIUM is set).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LANEMESH_REQUIRE_CHROMIUM") != "" {
		t.Fatal("LANEMESH_REQUIRE_CHROMIUM is set but no chromium is on PATH (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH: the dashboard's browser test needs Debian's chromium package (apt-get install chromium; .ci/run installs it)")
	return ""
}

// artifactsDir is where the screenshots go: $LANEMESH_ARTIFACTS/dashboard,
// else lanemesh-dashboard under the system's temporary directory; it is
// kept after the test, and replaced by the next run.
func artifactsDir(t *testing.T) string {
	base := os.Getenv("LANEMESH_ARTIFACTS")
	if base == "" {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "lanemesh-dashboard")
	if os.Getenv("LANEMESH_ARTIFACTS") != "" {
		dir = filepath.Join(base, "dashboard")
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots go to %s", dir)
	return dir
}

func status(t *testing.T, url, token string) int {
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitPage polls a JavaScript condition in the page until it holds.
// On a timeout it keeps a screenshot of the page in artifacts.
func waitPage(t *testing.T, ctx context.Context, artifacts, what string, timeout time.Duration, cond string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			shot := filepath.Join(artifacts, "failed.png")
			screenshot(t, ctx, shot)
			t.Fatalf("waited %v for %s (err %v); screenshot in %s", timeout, what, err, shot)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Error(err)
	}
}
