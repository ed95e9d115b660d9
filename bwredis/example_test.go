package bwredis_test

import (
	"log"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwredis"
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
	hosts, err := store.NewRegistry(breaker.RegistryConfig{Defaults: breaker.Config{Trip: breaker.Consecutive(5)}}) // one shared circuit per host
	if err != nil {
		log.Fatal(err)
	}
	_, _ = payments, hosts
}
