package watch

import (
	"fmt"
	"reflect"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/adaptive"
	"github.com/breakwater-go/breakwater/admission"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bulkhead"
	"github.com/breakwater-go/breakwater/hedge"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/throttle"
)

// Add adds each of policies to the list: a *breaker.Breaker,
// *retry.Policy, *hedge.Policy, *bulkhead.Bulkhead, *ratelimit.Limiter,
// *throttle.Throttle, *adaptive.Limiter or *admission.Controller; a
// registry of breakers or of load-shedding policies, or a
// breakwater.Shedding, whose policies made later are added too; a
// Reporter (bwredis's shared rate limits); a Configurer (a
// stackfile.Live), whose configuration and the policies it has in force
// are read at each report. A policy added twice, alone and through a
// registry, is reported once; a Reporter added twice is reported twice.
//
// It adds nothing and returns an error naming the first value of another
// type, or a nil one.
func (l *List) Add(policies ...any) error {
	for i, p := range policies {
		if v := reflect.ValueOf(p); !v.IsValid() || v.Kind() == reflect.Pointer && v.IsNil() {
			return fmt.Errorf("watch: Add: policy %d is nil", i)
		}
		switch p.(type) {
		case *breaker.Breaker, *registry.Registry[*breaker.Breaker], *retry.Policy, *hedge.Policy,
			*bulkhead.Bulkhead, *ratelimit.Limiter, *throttle.Throttle, *adaptive.Limiter, *admission.Controller,
			*registry.Registry[*bulkhead.Bulkhead], *registry.Registry[*ratelimit.Limiter],
			*registry.Registry[*throttle.Throttle], *registry.Registry[*adaptive.Limiter],
			breakwater.Shedding, Reporter, Configurer:
		default:
			return fmt.Errorf("watch: Add: cannot watch policy %d, a %T", i, p)
		}
	}
	for _, p := range policies {
		l.add(p)
	}
	return nil
}

func (l *List) add(p any) {
	switch p := p.(type) {
	case *breaker.Breaker:
		l.addBreaker(p)
	case *registry.Registry[*breaker.Breaker]:
		l.addRegistry(p)
	case *retry.Policy:
		l.addRetry(p)
	case *hedge.Policy:
		l.addHedge(p)
	case *admission.Controller:
		l.addAdmission(p)
	case *bulkhead.Bulkhead:
		l.addLimiters(func() []reading { return []reading{bulkheadReport(p)} })
	case *ratelimit.Limiter:
		l.addLimiters(func() []reading { return []reading{rateLimitReport(p)} })
	case *throttle.Throttle:
		l.addLimiters(func() []reading { return []reading{throttleReport(p)} })
	case *adaptive.Limiter:
		l.addLimiters(func() []reading { return []reading{adaptiveReport(p)} })
	case *registry.Registry[*bulkhead.Bulkhead]:
		l.addLimiters(func() []reading { return each(p.All(), bulkheadReport) })
	case *registry.Registry[*ratelimit.Limiter]:
		l.addLimiters(func() []reading { return each(p.All(), rateLimitReport) })
	case *registry.Registry[*throttle.Throttle]:
		l.addLimiters(func() []reading { return each(p.All(), throttleReport) })
	case *registry.Registry[*adaptive.Limiter]:
		l.addLimiters(func() []reading { return each(p.All(), adaptiveReport) })
	case breakwater.Shedding:
		if p.Bulkheads != nil {
			l.add(p.Bulkheads)
		}
		if p.RateLimits != nil {
			l.add(p.RateLimits)
		}
		if p.Throttles != nil {
			l.add(p.Throttles)
		}
		if p.Adaptive != nil {
			l.add(p.Adaptive)
		}
	case Reporter:
		l.addReporter(p)
	case Configurer:
		l.addConfiguration(p)
	}
}
