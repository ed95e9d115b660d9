package stackfile

import (
	"context"
	"fmt"

	"github.com/breakwater-go/breakwater"
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
// means clock.System), and the environment (nil means os.Environ) a Live
// reads its overrides from.
type Options struct {
	Clock clock.Clock
	Env   func() []string
}

// Set is a file's policies, built: the real breakers, retry policies and
// the others, and its stacks of them.
type Set struct {
	file     *File
	policies map[string]*built
	stacks   map[string][]breakwater.Policy
}

// built is one policy of a Set.
type built struct {
	spec     string
	budget   string // a retry's budget's configuration (budgetSpec)
	instance any    // *breaker.Breaker, *retry.Policy, ...
	policy   breakwater.Policy
}

// Build builds the file's policies and stacks.
func (f *File) Build(o Options) (*Set, error) { return f.build(o, nil) }

// build builds the file's policies, taking over what prev's policies of
// the same names have learned: a policy whose configuration is unchanged
// is prev's own (its open circuit, its window's counts, its budget's
// tokens, its schedule); a changed breaker starts in prev's circuit state
// (an open circuit stays open, until the time it was to stay open); a
// changed retry policy keeps prev's budget when its budget's configuration
// is unchanged.
func (f *File) build(o Options, prev *Set) (*Set, error) {
	s := &Set{file: f, policies: map[string]*built{}, stacks: map[string][]breakwater.Policy{}}
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
		var ps []breakwater.Policy
		for _, n := range names {
			ps = append(ps, s.policies[n].policy)
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
	switch p.kind {
	case "retry":
		c := *p.Retry
		c.Clock = o.Clock
		if p.Budget != nil {
			if prev, ok := old.value().(*retry.Policy); ok && old.budgetSpec() == budgetSpec(p) {
				c.Budget = prev.Budget()
			} else {
				bc := *p.Budget
				bc.Clock = o.Clock
				budget, err := retry.NewBudget(bc)
				if err != nil {
					return nil, err
				}
				c.Budget = budget
			}
		}
		r, err := retry.New(c)
		if err != nil {
			return nil, err
		}
		b.instance, b.policy = r, breakwater.Retry(r)
	case "breaker":
		c := *p.Breaker
		c.Clock = o.Clock
		br, err := breaker.New(c)
		if err != nil {
			return nil, err
		}
		if prev, ok := old.value().(*breaker.Breaker); ok {
			if err := br.Restore(prev.Snapshot()); err != nil {
				return nil, err
			}
		}
		b.instance, b.policy = br, breakwater.Breaker(br)
	case "timeout":
		c := *p.Timeout
		c.Clock = o.Clock
		t, err := timeout.New(c)
		if err != nil {
			return nil, err
		}
		b.instance, b.policy = t, breakwater.Timeout(t)
	case "bulkhead":
		c := *p.Bulkhead
		c.Clock = o.Clock
		bh, err := bulkhead.New(c)
		if err != nil {
			return nil, err
		}
		b.instance, b.policy = bh, breakwater.Bulkhead(bh)
	case "rateLimit":
		c := *p.RateLimit
		c.Clock = o.Clock
		l, err := ratelimit.New(c)
		if err != nil {
			return nil, err
		}
		b.instance, b.policy = l, breakwater.RateLimit(l)
	case "throttle":
		c := *p.Throttle
		c.Clock = o.Clock
		t, err := throttle.New(c)
		if err != nil {
			return nil, err
		}
		b.instance, b.policy = t, breakwater.Throttle(t)
	case "adaptive":
		c := *p.Adaptive
		c.Clock = o.Clock
		l, err := adaptive.New(c)
		if err != nil {
			return nil, err
		}
		b.instance, b.policy = l, breakwater.AdaptiveLimit(l)
	case "hedge":
		c := *p.Hedge
		c.Clock = o.Clock
		h, err := hedge.New(c)
		if err != nil {
			return nil, err
		}
		b.instance, b.policy = h, breakwater.Hedge(h)
	default:
		return nil, fmt.Errorf("stackfile: unknown kind %q", p.kind)
	}
	b.budget = budgetSpec(p)
	return b, nil
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
func (s *Set) Stack(name string) ([]breakwater.Policy, bool) {
	ps, ok := s.stacks[name]
	return ps, ok
}

// Policy returns the built policy of that name: a *breaker.Breaker,
// *retry.Policy, *timeout.Policy, *bulkhead.Bulkhead, *ratelimit.Limiter,
// *throttle.Throttle, *adaptive.Limiter or *hedge.Policy; nil if the file
// has none of that name. Register it with a watch.List to export its
// metrics.
func (s *Set) Policy(name string) any { return s.policies[name].value() }

// File returns the file the set was built from.
func (s *Set) File() *File { return s.file }

// ErrNoStack is the error of a call through a stack the configuration in
// force does not have.
var ErrNoStack = fmt.Errorf("stackfile: no such stack")

// Do runs fn through the stack of that name of s.
func (s *Set) Do(ctx context.Context, stack string, fn func(context.Context) error) error {
	ps, ok := s.stacks[stack]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoStack, stack)
	}
	return breakwater.Do(ctx, fn, ps...)
}
