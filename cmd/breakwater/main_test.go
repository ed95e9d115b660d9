package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDemoWalksEveryState(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"demo"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	for _, want := range []string{
		"T+ 20s   state closed -> open",
		"T+ 25s call  6: rejected at once",
		"T+ 50s   state half-open -> open",
		"T+110s   state half-open -> closed",
		"state closed -> forced-open",
		"state forced-open -> disabled",
		"state disabled -> closed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"demo", "extra"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("run(%q) = %d with stderr %q; want 2 and a message", args, code, errOut.String())
		}
	}
	var out bytes.Buffer
	if code := run([]string{"--help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "demo") {
		t.Errorf("--help: %d %q", code, out.String())
	}
}
