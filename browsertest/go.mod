module github.com/breakwater-go/breakwater/browsertest

go 1.26.0

require (
	// The example the test builds and runs, at the core's release version.
	github.com/breakwater-go/breakwater v0.1.0
	github.com/chromedp/chromedp v0.23.0
)

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
)
