package stackfile

import (
	"fmt"
	"log/slog"

	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
	"github.com/breakwater-go/breakwater/timeout"
)

// Options are what a file cannot say: the clock every policy reads (nil
// means clock.System), the environment (nil means os.Environ) a Live
// reads its overrides from, the logger a Live tells of its reloads and
// refusals (nil means slog.Default()), and how a Live turns the file's
// contents into JSON (nil: they are JSON; bwyaml.ToJSON reads YAML).
type Options struct {
	Clock  clock.Clock
	Env    func() []string
	Logger *slog.Logger
	Decode func(data []byte) ([]byte, error)
}

// Set is a file's policies, built: the real breakers, retry policies and
// the others, and its stacks of them.
type Set struct {
	file     *File
	policies map[string]*built
	stacks   map[string][]any
}

// built is one policy of a Set.
type built struct {
	spec     string
	budget   string // a retry's budget's configuration (budgetSpec)
	instance any    // *breaker.Breaker, *retry.Policy, ...
}

// Build builds the file's policies and stacks.
func (f *File) Build(o Options) (*Set, error) { return f.build(o, nil) }

// build builds the file's policies, taking over what prev's policies of
// the same names have learned: a policy whose configuration is unchanged
// is prev's own (its open circuit, its window's counts, its budget's
// tokens, its schedule); a changed breaker carries on prev's circuit
// (Breaker.Inherit: an open circuit stays open, until the time it was to
// stay open; a window of the same shape keeps its outcomes); a
// changed retry policy keeps prev's budget when its budget's configuration
// is unchanged (its own default budget included); a changed rate limiter,
// throttle, adaptive limit or hedging policy inherits from prev's (its
// tokens, its window's counts, its limit, its latencies: their Inherit
// methods).
func (f *File) build(o Options, prev *Set) (*Set, error) {
	s := &Set{file: f, policies: map[string]*built{}, stacks: map[string][]any{}}
	for _, name := range sortedKeys(f.Policies) {
		p := f.Policies[name]
		var old *built
		if prev != nil {
			old = prev.policies[name]
		}
		b, err := build(p, o, old)
		if err != nil {
			return nil, f.refused(name, p, err)
		}
		s.policies[name] = b
	}
	for name, names := range f.Stacks {
		var ps []any
		for _, n := range names {
			ps = append(ps, s.policies[n].instance)
		}
		s.stacks[name] = ps
	}
	return s, nil
}

// build builds one policy; old is the policy of its name it replaces, if
// any.
func build(p Policy, o Options, old *built) (*built, error) {
	if old != nil && old.spec == p.spec {
		return old, nil
	}
	b := &built{spec: p.spec}
	var err error
	switch p.kind {
	case "retry":
		c := *p.Retry
		c.Clock = o.Clock
		prev, ok := old.value().(*retry.Policy)
		switch {
		case c.NoBudget:
		case ok && prev.Budget() != nil && old.budgetSpec() == budgetSpec(p): // the same budget: its tokens go on
			c.Budget = prev.Budget()
		case p.Budget != nil:
			bc := *p.Budget
			bc.Clock = o.Clock
			budget, err := retry.NewBudget(bc)
			if err != nil {
				return nil, err
			}
			c.Budget = budget
		}
		r, err := retry.New(c)
		if err != nil {
			return nil, err
		}
		b.instance = r
	case "breaker":
		c := *p.Breaker
		c.Clock = o.Clock
		err = construct(b, c, breaker.New, old)
	case "timeout":
		c := *p.Timeout
		c.Clock = o.Clock
		err = construct(b, c, timeout.New, old)
	case "bulkhead":
		c := *p.Bulkhead
		c.Clock = o.Clock
		err = construct(b, c, bulkhead.New, old)
	case "rateLimit":
		c := *p.RateLimit
		c.Clock = o.Clock
		err = construct(b, c, ratelimit.New, old)
	case "throttle":
		c := *p.Throttle
		c.Clock = o.Clock
		err = construct(b, c, throttle.New, old)
	case "adaptive":
		c := *p.Adaptive
		c.Clock = o.Clock
		err = construct(b, c, adaptive.New, old)
	case "hedge":
		c := *p.Hedge
		c.Clock = o.Clock
		err = construct(b, c, hedge.New, old)
	default:
		return nil, fmt.Errorf("stackfile: unknown kind %q", p.kind)
	}
	if err != nil {
		return nil, err
	}
	b.budget = budgetSpec(p)
	return b, nil
}

// construct builds b's policy of configuration c with newPolicy; a policy that can inherit from the one of
// its kind it replaces (old's) does.
func construct[C, P any](b *built, c C, newPolicy func(C) (P, error), old *built) error {
	v, err := newPolicy(c)
	if err != nil {
		return err
	}
	if heir, ok := any(v).(interface{ Inherit(P) }); ok { // what the policy it replaces learned
		if prev, ok := old.value().(P); ok {
			heir.Inherit(prev)
		}
	}
	b.instance = v
	return nil
}

// budgetSpec is what identifies a retry's budget configuration.
func budgetSpec(p Policy) string {
	if p.Budget == nil {
		return ""
	}
	return fmt.Sprintf("%+v", *p.Budget)
}

func (b *built) value() any {
	if b == nil {
		return nil
	}
	return b.instance
}

func (b *built) budgetSpec() string {
	if b == nil {
		return ""
	}
	return b.budget
}

// Stack returns the policies of the stack of that name, outermost first,
// for breakwater.Do, Execute or Wrap.
func (s *Set) Stack(name string) ([]any, bool) {
	ps, ok := s.stacks[name]
	return ps, ok
}

// Policy returns the built policy of that name: a *breaker.Breaker,
// *retry.Policy, *timeout.Policy, *bulkhead.Bulkhead, *ratelimit.Limiter,
// *throttle.Throttle, *adaptive.Limiter or *hedge.Policy; nil if the file
// has none of that name. A watch.List given the Live (Add)
// reports the policies in force, and follows reloads.
func (s *Set) Policy(name string) any { return s.policies[name].value() }

// ErrNoStack is the error of a call through a stack the configuration in
// force does not have.
var ErrNoStack = fmt.Errorf("stackfile: no such stack")
