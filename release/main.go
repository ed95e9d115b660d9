package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	version := flag.String("version", "", "the release version, e.g. v0.1.0 (default: the core version the integrations require)")
	out := flag.String("out", "", "the directory to write the proxy into")
	root := flag.String("root", ".", "the repository's root")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "release: -out is required")
		os.Exit(2)
	}
	v := *version
	if v == "" {
		var err error
		if v, err = RequiredCore(*root); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := BuildProxy(*root, v, *out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("proxy of %d modules at %s written to %s\n", len(Released), v, *out)
}
