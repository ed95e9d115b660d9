// Command release builds a file-based module proxy from the repository:
// each released module of Breakwater (the core and its integration
// modules) as the go command would download it at a release version,
// zipped by golang.org/x/mod/zip. Tests use it to prove that the modules
// can be consumed as released, by a module outside the repository, with no
// replace directive and no workspace.
//
//	go run ./release -version v0.1.0 -out /tmp/proxy
//	GOPROXY=file:///tmp/proxy,https://proxy.golang.org GONOSUMDB=github.com/breakwater-go go get github.com/breakwater-go/breakwater/bwprom@v0.1.0
//
// It is not released itself.
package main
