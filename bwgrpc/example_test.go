package bwgrpc_test

import (
	"log"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwgrpc"
	"github.com/breakwater-go/breakwater/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Retries and a circuit breaker per server for every call of a client
// connection.
func Example() {
	servers, _ := breaker.NewRegistry(breaker.Config{Trip: breaker.Consecutive(5)}, 0)
	retries, _ := retry.New(retry.Config{MaxAttempts: 3})
	ic, err := bwgrpc.New(bwgrpc.Config{Breakers: servers, Retry: retries})
	if err != nil {
		log.Fatal(err)
	}
	conn, err := grpc.NewClient("orders.internal:443",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(ic.Unary),
		grpc.WithStreamInterceptor(ic.Stream))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	// Use conn with any generated client: calls answered Unavailable,
	// ResourceExhausted or DeadlineExceeded are retried; once the server
	// has failed 5 times in a row, calls fail fast with codes.Unavailable
	// and an error matching breaker.ErrOpen.
}
