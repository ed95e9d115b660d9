package stackfile_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/stackfile"
)

// BenchmarkLive is a successful call through a Live file's stack of a
// retry policy around a breaker, next to the same policies wrapped once.
func BenchmarkLive(b *testing.B) {
	path := filepath.Join(b.TempDir(), "svc.json")
	data := `{"policies": {"r": {"retry": {}}, "c": {"breaker": {}}}, "stacks": {"api": ["r", "c"]}}`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		b.Fatal(err)
	}
	l, err := stackfile.Open(path, stackfile.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ok := func(context.Context) error { return nil }
	b.Run("Live.Do", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = l.Do(ctx, "api", ok)
		}
	})
	b.Run("stackfile.Wrap", func(b *testing.B) {
		call := stackfile.Wrap(l, "api", func(ctx context.Context) (struct{}, error) { return struct{}{}, ok(ctx) })
		b.ReportAllocs()
		for b.Loop() {
			_, _ = call(ctx)
		}
	})
	b.Run("breakwater.Wrap", func(b *testing.B) {
		ps, _ := l.Set().Stack("api")
		call, err := breakwater.Wrap(func(ctx context.Context) (struct{}, error) { return struct{}{}, ok(ctx) }, ps...)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			_, _ = call(ctx)
		}
	})
}
