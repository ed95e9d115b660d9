package bwredis_test

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwredis"
	"github.com/breakwater-go/breakwater/clock/clocktest"
	"github.com/redis/go-redis/v9"
)

// startCluster starts a real Redis Cluster of three masters on loopback
// and returns their addresses.
func startCluster(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		startRedis(t) // skips, or fails under CI, like every Redis test
	}
	var addrs []string
	for len(addrs) < 3 {
		port := freeClusterPort(t)
		srv := &redisServer{t: t, port: port, dir: t.TempDir()}
		srv.args = []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"}
		srv.start()
		t.Cleanup(srv.stop)
		addrs = append(addrs, srv.addr())
	}
	out, err := exec.Command("redis-cli", append([]string{"--cluster", "create"}, append(addrs, "--cluster-replicas", "0", "--cluster-yes")...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c := redis.NewClient(&redis.Options{Addr: addrs[0]})
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := c.ClusterInfo(context.Background()).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return addrs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster never became ready: %v\n%s", err, info)
		}
		time.Sleep(50 * time.Millisecond) // the nodes are agreeing on slots
	}
}

// freeClusterPort returns a free port whose cluster bus port (+10000) is
// free too.
func freeClusterPort(t *testing.T) int {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port > 55000 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err == nil {
			bus.Close()
			return port
		}
	}
}

// The shared circuits work on a real Redis Cluster: every key a script
// touches is declared, circuits spread over the masters, and trips,
// aggregated failures and the single cluster-wide probe behave as on one
// server.
func TestRedisCluster(t *testing.T) {
	addrs := startCluster(t)
	clk := clocktest.NewFake(time.Now())
	newClusterClient := func() redis.UniversalClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true,
			ReadTimeout: time.Second, WriteTimeout: time.Second})
		t.Cleanup(func() { c.Close() })
		return c
	}
	names := []string{"payments-api", "search-api", "ledger", "inventory", "mail"} // several slots, so several masters
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			var rs []*replica
			for i := 0; i < 3; i++ {
				rs = append(rs, newReplica(t, nil, clk, breaker.Config{Name: name, ConsecutiveFailures: 100},
					bwredis.Config{Client: newClusterClient(), FailureRate: 0.5, MinCalls: 10, Timeout: time.Second}))
			}
			// Aggregated failures: 12 calls, 6 failures over three processes.
			for _, r := range rs {
				calls(r, nil, errDown, nil, errDown)
			}
			flush(t, rs...) // the last flush trips the shared circuit
			flush(t, rs...) // every process reads it, message or not
			for _, r := range rs {
				waitFor(t, r, breaker.Open, 2*time.Second)
			}
			// One probe across the cluster, whose success closes it for all.
			clk.Advance(breaker.DefaultOpenDuration)
			flush(t, rs...)
			var permits []breaker.Permit
			for _, r := range rs {
				if p, err := r.b.Allow(context.Background()); err == nil {
					permits = append(permits, p)
				}
			}
			if len(permits) != 1 {
				t.Fatalf("%d probes across the cluster, want 1", len(permits))
			}
			permits[0].Done(nil)
			flush(t, rs...)
			for _, r := range rs {
				waitFor(t, r, breaker.Closed, 2*time.Second)
			}
			// A trip propagates.
			rs[1].b.Trip()
			for _, r := range []*replica{rs[0], rs[2]} {
				waitFor(t, r, breaker.Open, 2*time.Second)
			}
		})
	}
}
