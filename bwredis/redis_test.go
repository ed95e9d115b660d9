package bwredis_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/internal/redisserver"
	"github.com/redis/go-redis/v9"
)

// redisServer is a real redis-server on a free port of 127.0.0.1.
type redisServer struct{ *redisserver.Server }

// startRedis starts redis-server from PATH. Without the binary, the test
// is skipped, except under CI=true, where that is a failure.
func startRedis(t testing.TB) *redisServer { return &redisServer{redisserver.Start(t)} }

func (r *redisServer) addr() string { return r.Addr() }

// start starts the server again after stop, with what it last saved.
func (r *redisServer) start() { r.Restart() }

// signal sends sig to the server: SIGSTOP hangs it, SIGCONT resumes it.
func (r *redisServer) signal(sig os.Signal) { r.Signal(sig) }

// stop kills the server, as a crash would: what was not saved is lost.
func (r *redisServer) stop() { r.Stop() }

// client returns a new client of the server, as a separate replica would
// have: short timeouts, honoured through the context.
func (r *redisServer) client(t testing.TB) *redis.Client {
	c := newClient(r.addr())
	t.Cleanup(func() { c.Close() })
	return c
}

func newClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: addr, ContextTimeoutEnabled: true,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
		MaxRetries: -1,
	})
}

func (r *redisServer) String() string { return fmt.Sprintf("redis-server on %s", r.addr()) }
