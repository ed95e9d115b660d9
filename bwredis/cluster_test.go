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
	"github.com/breakwater-go/breakwater/internal/redisserver"
	"github.com/breakwater-go/breakwater/outcome"
	"github.com/redis/go-redis/v9"
)

// startCluster starts a real Redis Cluster of three masters on loopback,
// with replicas masters each, and returns its nodes by address.
func startCluster(t *testing.T, replicas int) (addrs []string, nodes map[string]*redisServer) {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		startRedis(t) // skips, or fails under CI, like every Redis test
	}
	nodes = map[string]*redisServer{}
	for len(addrs) < 3*(1+replicas) {
		port := freeClusterPort(t)
		srv := &redisServer{redisserver.StartOn(t, port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "1000",
			"--cluster-replica-validity-factor", "0")} // a replica always takes over: the test kills masters
		addrs = append(addrs, srv.addr())
		nodes[srv.addr()] = srv
	}
	out, err := exec.Command("redis-cli", append([]string{"--cluster", "create"},
		append(addrs, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	waitClusterOK(t, addrs[0])
	return addrs, nodes
}

// waitClusterOK waits until the node at addr says the cluster is ok.
func waitClusterOK(t *testing.T, addr string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := c.ClusterInfo(context.Background()).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return
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
	addrs, _ := startCluster(t, 0)
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
				rs = append(rs, newReplica(t, nil, clk, breaker.Config{Name: name, Trip: breaker.Consecutive(100)},
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
			clk.Advance(30 * time.Second)
			flush(t, rs...)
			var permits []outcome.Permit
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

// Sharing goes on through a failover: three masters with a replica each;
// the master that holds an open circuit's slot is killed, its replica takes
// over (with or without the record, as replication is asynchronous), and
// the circuit is still open everywhere afterwards, another trip in the same
// slot propagates, and the stores reconnect.
func TestRedisClusterFailover(t *testing.T) {
	addrs, nodes := startCluster(t, 1)
	clk := clocktest.NewFake(time.Now())
	client := func() *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true,
			ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, DialTimeout: 300 * time.Millisecond})
		t.Cleanup(func() { c.Close() })
		return c
	}
	var rs, others []*replica
	for range 3 {
		rs = append(rs, newReplica(t, nil, clk, breaker.Config{Name: "payments-api"}, bwredis.Config{Client: client(), Timeout: 300 * time.Millisecond}))
	}
	rs[0].b.Trip()
	flush(t, rs...)
	for _, r := range rs {
		waitFor(t, r, breaker.Open, 2*time.Second)
	}
	admin := client()
	ctx := context.Background()
	master, err := admin.MasterForKey(ctx, stateKey)
	if err != nil {
		t.Fatal(err)
	}
	dead := master.Options().Addr
	nodes[dead].stop()
	start := time.Now()
	var survivor string
	for _, a := range addrs {
		if a != dead {
			survivor = a
			break
		}
	}
	for { // until the replica has been promoted
		admin.ReloadState(ctx)
		if m, err := admin.MasterForKey(ctx, stateKey); err == nil && m.Options().Addr != dead {
			break
		}
		if time.Since(start) > 20*time.Second {
			nodesOut, _ := redis.NewClient(&redis.Options{Addr: survivor}).ClusterNodes(ctx).Result()
			t.Fatalf("no replica took over the dead master's slots:\n%s", nodesOut)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitClusterOK(t, survivor)
	failover := time.Since(start)
	for _, r := range rs {
		reconnect(t, r)
	}
	agreed := time.Since(start)
	for i, r := range rs {
		if r.b.State() != breaker.Open {
			t.Fatalf("process %d: %v after the failover, want the circuit still open", i, r.b.State())
		}
	}
	flush(t, rs...)
	flush(t, rs...)
	if st, _ := admin.HGet(ctx, stateKey, "state").Result(); st != "open" {
		t.Fatalf("the record after the failover: %q, want open (kept, or written again)", st)
	}
	// Another circuit, made after the failover, trips and propagates.
	for range 3 {
		others = append(others, newReplica(t, nil, clk, breaker.Config{Name: "ledger"}, bwredis.Config{Client: client(), Timeout: 300 * time.Millisecond}))
	}
	others[2].b.Trip()
	flush(t, others...)
	for _, r := range others {
		waitFor(t, r, breaker.Open, 2*time.Second)
	}
	t.Logf("master %s killed: promoted in %v, every store rejoined in %v, the open circuit kept", dead, failover, agreed)
}
