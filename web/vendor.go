package web

// htmx is vendored, not fetched: a plant network may have no internet. It
// is the npm package htmx.org at a pinned version, checked against the
// registry's integrity hash when it was taken:
//
//	npm pack htmx.org@2.0.11   # sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==
//	cp package/dist/htmx.min.js package/LICENSE web/assets/   (LICENSE as htmx.LICENSE.txt; 0BSD)
//
// 2.0.x rather than 4.x: 4.0 (September 2026) rewrote the library (fetch
// instead of XHR, changed attribute inheritance and events); the 2.x line
// is still patched (2.0.11 is newer than 4.0.0) and is all these pages
// need: hx-post, hx-target, HX-Location and a configurable
// responseHandling so that a 422 swaps in. A test checks the file's hash.
const (
	htmxVersion = "2.0.11"
	htmxSHA256  = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
)
