package registry

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/breakwater-go/breakwater/config"
)

type value struct {
	key        string
	held, busy bool
}

func newMap(max int) *Registry[*value] {
	r, err := New(Config[*value]{MaxKeys: max, New: func(key string) *value { return &value{key: key} },
		Held: func(v *value) bool { return v.held }, Busy: func(v *value) bool { return v.busy }})
	if err != nil {
		panic(err)
	}
	return r
}

// Len returns the number of policies held.
func (m *Registry[P]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ring)
}

func keys(m *Registry[*value]) string {
	var out []string
	for _, v := range m.All() {
		out = append(out, v.key)
	}
	return fmt.Sprint(out)
}

func TestEviction(t *testing.T) {
	tests := []struct {
		name string
		run  func(m *Registry[*value])
		want string
	}{
		{"a key seen once goes first", func(m *Registry[*value]) {
			m.Get("a")
			m.Get("b")
			m.Get("b")
			m.Get("a")
			m.Get("c")
			m.Get("c") // c is looked up again, a and b were: the sweep clears both marks and takes a
			m.Get("d")
		}, "[b c d]"},
		{"busy values outlive idle ones", func(m *Registry[*value]) {
			m.Get("a").busy = true
			m.Get("b").busy = true
			m.Get("c")
			m.Get("d")
		}, "[a b d]"},
		{"when all are busy one still goes", func(m *Registry[*value]) {
			m.Get("a").busy = true
			m.Get("b").busy = true
			m.Get("c").busy = true
			m.Get("d")
		}, "[b c d]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMap(3)
			tt.run(m)
			if got := keys(m); got != tt.want {
				t.Errorf("kept %s, want %s", got, tt.want)
			}
			if m.Len() != 3 {
				t.Errorf("Len = %d, want 3", m.Len())
			}
		})
	}
}

// A held value (calls in flight) is never evicted, whatever the pressure:
// the map grows past its bound instead, and shrinks back to it once the
// values are no longer held.
func TestHeldValuesAreNeverEvicted(t *testing.T) {
	m := newMap(2)
	a := m.Get("a")
	a.held = true
	for i := range 100 {
		m.Get(fmt.Sprint(i)) // a is not looked up: only held keeps it
	}
	if m.Get("a") != a {
		t.Fatal("after 100 other keys, key a has a new value beside its held one")
	}
	held := make([]*value, 10)
	for i := range held {
		held[i] = m.Get(fmt.Sprint("h", i))
		held[i].held = true
	}
	if m.Len() < 11 {
		t.Fatalf("Len = %d with 11 held values", m.Len())
	}
	for _, v := range held {
		v.held = false
	}
	a.held = false
	for i := range 20 { // the amortised sweep runs again within a quarter
		m.Get(fmt.Sprint("new", i))
	}
	if m.Len() > 2 {
		t.Errorf("Len = %d once nothing is held, want 2", m.Len())
	}
}

func TestAddAndRemove(t *testing.T) {
	m := newMap(2)
	v := &value{key: "x"}
	if m.Add("x", v) != nil || !errors.Is(m.Add("x", &value{}), ErrExists) {
		t.Fatal("Add: want true, then false for a taken key")
	}
	if m.Get("x") != v {
		t.Fatal("Get after Add: another value")
	}
	m.Remove("x")
	m.Remove("nothing")
	if m.Len() != 0 || m.Get("x") == v {
		t.Fatalf("after Remove: Len %d, same value %v", m.Len(), m.Get("x") == v)
	}
}

func TestConcurrentGetsMakeOneValuePerKey(t *testing.T) {
	m := newMap(1000)
	var wg sync.WaitGroup
	got := make([][]*value, 8)
	for g := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				got[g] = append(got[g], m.Get(fmt.Sprint(i)))
			}
		}()
	}
	wg.Wait()
	for g := range got {
		for i, v := range got[g] {
			if v != got[0][i] {
				t.Fatalf("goroutine %d got another value for key %d", g, i)
			}
		}
	}
	if m.Len() != 500 {
		t.Errorf("Len = %d, want 500", m.Len())
	}
}

func TestBoundHoldsUnderManyKeys(t *testing.T) {
	m := newMap(10)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				m.Get(fmt.Sprint(g, "-", i))
			}
		}()
	}
	wg.Wait()
	if m.Len() != 10 {
		t.Errorf("Len = %d, want 10", m.Len())
	}
}

func TestNewNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config[*value]
		field string
	}{
		{Config[*value]{MaxKeys: 0, New: func(string) *value { return nil }}, "MaxKeys"},
		{Config[*value]{MaxKeys: 1_000_001, New: func(string) *value { return nil }}, "MaxKeys"},
		{Config[*value]{MaxKeys: 1}, "New"},
	} {
		_, err := New(tc.cfg)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("New(%+v) = %v, want a *config.Error naming %s", tc.cfg.MaxKeys, err, tc.field)
		}
	}
}
