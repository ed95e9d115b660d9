package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/dashboard"
)

const dashboardUsage = `Usage: breakwater dashboard [--state FILE|URL] [--listen ADDR] [--actions [--open-for D]]

Serves a live page of the circuits in the state (a file or Redis) of
"breakwater run":
each circuit's state, its failure rate over its last 20 attempts, attempts
a second, invocations turned away, trips, the time in its state and until
an open circuit lets an invocation probe. The page follows the state as
invocations change it.

It only reads the state, unless --actions adds Trip and Reset buttons:
Trip opens a circuit for --open-for, Reset closes it (keeping its counts,
unlike "breakwater reset"). Each action is logged on standard error with
the address that asked. The page listens on 127.0.0.1 unless --listen says
otherwise, and there answers only requests addressed to this machine (by
localhost or a loopback address). Serve it beyond this machine, and above
all its actions, only behind something that checks who asks.

It prints the page's address, and serves until interrupted.
`

func dashboardCmd(args []string, stdout, stderr io.Writer) int {
	c := newCommand("dashboard", dashboardUsage)
	path := stateFlag(c)
	listen := c.fs.String("listen", "127.0.0.1:7070", "the `address` to serve the page on; port 0 picks a free one")
	actions := c.fs.Bool("actions", false, "add Trip and Reset buttons, which change the state")
	openFor := durationFlag(c.fs, "open-for", breakerDefaults().OpenDuration, "the `duration` for which Trip opens a circuit")
	if status, done := c.parse(args, stdout, stderr); done {
		return status
	}
	switch {
	case c.fs.NArg() > 0:
		return c.fail(stderr, "unexpected argument %q", c.fs.Arg(0))
	case *openFor <= 0:
		return c.fail(stderr, "--open-for must be positive, got %v", *openFor)
	}
	if *path == "" {
		*path = defaultStatePath()
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	store, err := openStore(*path, func(format string, args ...any) {
		logger.Warn(fmt.Sprintf(format, args...))
	})
	if err != nil {
		return c.fail(stderr, "--state: %v", err)
	}
	defer store.Close()
	src := &stateSource{openFor: *openFor, store: store}
	d, err := dashboard.New(dashboard.Config{Source: src, Actions: *actions, Logger: logger})
	if err != nil {
		fmt.Fprintln(stderr, "breakwater dashboard:", err)
		return 1
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "breakwater dashboard:", err)
		return 1
	}
	ctx, stop := signalContext()
	defer stop()
	fmt.Fprintf(stdout, "breakwater dashboard: the circuits of %s at http://%s/\n", store, ln.Addr())
	var h http.Handler = d
	if addr, ok := ln.Addr().(*net.TCPAddr); ok && addr.IP.IsLoopback() {
		h = loopbackHostOnly(h)
	}
	if err := serve(ctx, ln, h); err != nil {
		fmt.Fprintln(stderr, "breakwater dashboard:", err)
		return 1
	}
	return 0
}

// serve serves h on ln until ctx ends. The requests' contexts end with
// ctx, so that the page's streams close and do not hold the shutdown up.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = serr
	}
	return err
}

// loopbackHostOnly answers 403 to a request whose Host is not this machine
// (localhost or a loopback address): a page of another site whose name an
// attacker points at 127.0.0.1 (DNS rebinding) would otherwise be of the
// same origin as the dashboard, read it and press its buttons.
func loopbackHostOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if ip := net.ParseIP(strings.Trim(host, "[]")); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "this dashboard answers requests for this machine only (Host localhost or a loopback address)", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// stateSource shows the dashboard the circuits of "breakwater run", and
// carries out its Trip and Reset there.
type stateSource struct {
	store   circuitStore
	openFor time.Duration // how long Trip opens a circuit
}

// Circuits reads the state: each snapshot sees one whole version of
// it, as invocations replace it atomically.
func (s *stateSource) Circuits() ([]breaker.Metrics, error) {
	circuits, now, err := s.store.load()
	if err != nil {
		return nil, err
	}
	ms := make([]breaker.Metrics, 0, len(circuits))
	for _, key := range slices.Sorted(maps.Keys(circuits)) {
		ms = append(ms, circuits[key].metrics(key, now))
	}
	return ms, nil
}

func (s *stateSource) Actions() []dashboard.Action {
	return []dashboard.Action{dashboard.Trip, dashboard.Reset}
}

// Act changes the circuit in one update of the store, as an invocation
// does: an attempt running meanwhile reports to a generation that has
// passed, and leaves the new state alone.
func (s *stateSource) Act(_ context.Context, action dashboard.Action, key string) error {
	return s.store.update(key, func(c *circuit, now time.Time) (*circuit, error) {
		if c == nil {
			return nil, dashboard.ErrNoCircuit
		}
		switch action {
		case dashboard.Trip:
			c.open(key, now, circuitRules{openFor: s.openFor})
		case dashboard.Reset:
			c.close(key, now)
		default:
			return nil, fmt.Errorf("a circuit of breakwater run cannot take the action %q", action)
		}
		return c, nil
	})
}
