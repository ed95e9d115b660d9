package bwredis_test

import (
	"context"
	"log"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwredis"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/redis/go-redis/v9"
)

// Every replica of a service runs this: its breakers share their circuits
// with the other replicas' breakers of the same name.
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "redis.internal:6379", ContextTimeoutEnabled: true})
	store, err := bwredis.New(bwredis.Config{Client: rdb, Prefix: "checkout"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	payments, err := store.NewBreaker(breaker.Config{Name: "payments-api"})
	if err != nil {
		log.Fatal(err)
	}
	hosts, err := store.NewRegistry(breaker.Config{Trip: breaker.Consecutive(5)}, 0) // one shared circuit per host
	if err != nil {
		log.Fatal(err)
	}
	_, _ = payments, hosts
}

// Every pod calling a partner's API runs this: together they stay within
// the account's 1,000 calls a second. While Redis is away, each pod keeps
// to its share, a quarter of it (four pods).
func ExampleNewLimiter() {
	rdb := redis.NewClient(&redis.Options{Addr: "redis.internal:6379", ContextTimeoutEnabled: true})
	share, err := ratelimit.New(ratelimit.Config{Name: "partner-api", Rate: 1000 / 4, Burst: 10})
	if err != nil {
		log.Fatal(err)
	}
	partner, err := bwredis.NewLimiter(bwredis.LimiterConfig{Client: rdb,
		Limit:    ratelimit.Config{Name: "partner-api", Rate: 1000, Burst: 10, MaxWait: 50 * time.Millisecond},
		Fallback: share})
	if err != nil {
		log.Fatal(err)
	}
	quote, err := breakwater.Wrap(func(ctx context.Context) (float64, error) {
		return 42, nil // the call to the partner's API
	}, partner)
	if err != nil {
		log.Fatal(err)
	}
	_ = quote
}
