package stackfile_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/stackfile"
)

// A file's stacks, built into the real policies, run calls like any stack.
func Example() {
	data := []byte(`{
	  "policies": {
	    "retries": {"retry": {"maxAttempts": 3, "delay": "10ms", "jitter": "full"}},
	    "circuit": {"breaker": {"trip": {"consecutive": 5}, "openDuration": "30s"}}
	  },
	  "stacks": {"inventory": ["retries", "circuit"]}
	}`)
	f, err := stackfile.Parse(data, "inventory.json", os.Environ())
	if err != nil {
		fmt.Println(err)
		return
	}
	set, err := f.Build(stackfile.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	policies, _ := set.Stack("inventory")
	calls := 0
	count, err := breakwater.Execute(context.Background(), func(context.Context) (int, error) {
		if calls++; calls < 2 {
			return 0, errors.New("connection reset")
		}
		return 42, nil
	}, policies...)
	fmt.Println(count, err, calls)
	// Output: 42 <nil> 2
}

// A Live file is reloaded on demand (a signal, an admin endpoint) or when
// it changes (Poll); an invalid file is refused and the one in force goes
// on.
func ExampleOpen() {
	path := filepath.Join(os.TempDir(), "breakwater-example.json")
	defer os.Remove(path)
	os.WriteFile(path, []byte(`{"policies": {"t": {"timeout": {"timeout": "1s"}}}, "stacks": {"api": ["t"]}}`), 0o600)
	live, err := stackfile.Open(path, stackfile.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	os.WriteFile(path, []byte(`{"policies": {"t": {"timeout": {"timeout": "soon"}}}, "stacks": {"api": ["t"]}}`), 0o600)
	fmt.Println(strings.TrimPrefix(live.Reload().Error(), path+": "))
	fmt.Println(live.Do(context.Background(), "api", func(context.Context) error { return nil }))
	fmt.Println(live.Configuration().Refusals)
	// Output:
	// policies.t.timeout.timeout: must be a duration such as "30s" or "250ms", got "soon"
	// <nil>
	// 1
}
