package report

import (
	"context"
	"fmt"
	"os"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// PDF prints a report's HTML with headless Chromium (chromedp drives it
// over the DevTools protocol): the same page people read in a browser or
// a mail client, as one landscape A4 sheet. Chromium is found on PATH as
// chromium, chromium-browser or google-chrome (Debian: apt-get install
// chromium). Each call starts its own browser with a fresh, temporary
// profile and no network, sync or update traffic, and closes it.
func PDF(ctx context.Context, html []byte) ([]byte, error) {
	dir, err := os.MkdirTemp("", "opsflow-chromium-")
	if err != nil {
		return nil, fmt.Errorf("report: pdf: %w", err)
	}
	defer os.RemoveAll(dir)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // the worker runs unprivileged, often in a container
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(dir),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	err = chromedp.Do(bctx,
		chromedp.Navigate("about:blank"),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			tree, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
			if err != nil {
				return err
			}
			_, err = chromedp.Call(ctx, page.SetDocumentContent, page.SetDocumentContentParams{FrameID: tree.FrameTree.Frame.ID, HTML: string(html)})
			return err
		}),
	)
	if err == nil {
		// Print once every chart image is decoded, not while it loads.
		_, err = chromedp.Run(bctx, chromedp.Evaluate[bool](
			`Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null))).then(() => true)`, chromedp.EvalAwaitPromise))
	}
	var pdf []byte
	if err == nil {
		// The page's CSS says A4 landscape (@page); the options say so too
		// for a browser that ignores it.
		pdf, err = chromedp.Run(bctx, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFLandscape(),
			chromedp.PDFPrintBackground(), func(p *page.PrintToPDFParams) { t := true; p.PreferCSSPageSize = &t }))
	}
	if err != nil {
		return nil, fmt.Errorf("report: print pdf with chromium: %w", err)
	}
	return pdf, nil
}
