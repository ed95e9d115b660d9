package stackfile_test

import (
	"errors"
	"os"
	"testing"

	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/stackfile"
)

// Parse never panics: any input is a file every policy of which builds,
// or an *Error.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"recommended.json", "unbudgeted.json", "timeouts.json", "cooldown.json"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "")
	}
	f.Add([]byte(`{"policies": {"b": {"breaker": {"trip": {"timeWindow": {"length": "1s"}}}}}}`), "BREAKWATER_POLICIES_B_BREAKER_OPENDURATION=-1s")
	f.Add([]byte(`{"verify": {"maxRecovery": "1m"}, "stacks": {}}`), "BREAKWATER_VERIFY_MAXFALSETRIPS=1e30")
	f.Fuzz(func(t *testing.T, data []byte, env string) {
		file, err := stackfile.Parse(data, "fuzz.json", []string{env})
		if err != nil {
			var fe *stackfile.Error
			if !errors.As(err, &fe) || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("%T %v", err, err)
			}
			return
		}
		if _, err := file.Build(stackfile.Options{}); err != nil {
			t.Fatalf("a file Parse accepted does not build: %v", err)
		}
	})
}
