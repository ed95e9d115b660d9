package stackfile

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater-go/breakwater"
	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/watch"
)

// Live is a configuration file in force, changed while it runs: Reload
// (on a signal, an admin call) or Poll (when the file changes) reads the
// file again and, if it is valid, puts its policies in force for the
// calls that start from then on; calls under way finish with the policies
// they started with. What the policies have learned is carried over as
// File.Build describes. An invalid file is refused: the configuration in
// force goes on, and the refusal is counted and kept (Metrics).
type Live struct {
	path string
	o    Options
	cur  atomic.Pointer[Set]

	mu       sync.Mutex // one reload at a time
	mod      time.Time  // the file's modification time when last read
	size     int64
	reloads  atomic.Uint64
	refusals atomic.Uint64
	lastErr  atomic.Pointer[error]
	opened   bool // the first file is in force (guarded by mu)
}

// Open reads the file at path and builds its policies.
func Open(path string, o Options) (*Live, error) {
	l := &Live{path: path, o: o}
	if err := l.Reload(); err != nil {
		return nil, err
	}
	return l, nil
}

// Reload reads the file again. On success its policies are in force for
// every call that starts after Reload returns; on failure nothing changes,
// and the error says why.
func (l *Live) Reload() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.reload()
	log := l.o.Logger
	if log == nil {
		log = slog.Default()
	}
	if err != nil {
		l.refusals.Add(1)
		l.lastErr.Store(&err)
		log.Warn("breakwater: configuration refused; the one in force goes on", "file", l.path, "error", err.Error())
		return err
	}
	if l.cur.Load() != nil && l.opened {
		l.reloads.Add(1)
		log.Info("breakwater: configuration reloaded", "file", l.path)
	}
	l.opened = true
	return nil
}

func (l *Live) reload() error {
	info, err := os.Stat(l.path)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(l.path)
	if err != nil {
		return err
	}
	env := os.Environ
	if l.o.Env != nil {
		env = l.o.Env
	}
	if l.o.Decode != nil {
		if data, err = l.o.Decode(data); err != nil {
			return &Error{File: l.path, Reason: err.Error()}
		}
	}
	f, err := Parse(data, l.path, env())
	if err != nil {
		return err
	}
	s, err := f.build(l.o, l.cur.Load())
	if err != nil {
		return err
	}
	l.mod, l.size = info.ModTime(), info.Size()
	l.cur.Store(s)
	return nil
}

// Poll reloads the file whenever its modification time or size changes,
// looking every interval, until ctx ends. Run it on a goroutine of one's
// own; a refused file is counted as Reload counts it, and tried again
// when it changes again.
func (l *Live) Poll(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("stackfile: Poll's interval must be positive, got %v", every)
	}
	clk := clock.Or(l.o.Clock)
	for {
		if err := clock.Sleep(ctx, clk, every); err != nil {
			return err
		}
		info, err := os.Stat(l.path)
		l.mu.Lock()
		changed := err == nil && (!info.ModTime().Equal(l.mod) || info.Size() != l.size)
		if changed { // tried once per change, valid or not
			l.mod, l.size = info.ModTime(), info.Size()
		}
		l.mu.Unlock()
		if changed {
			_ = l.Reload()
		}
	}
}

// Set returns the configuration in force.
func (l *Live) Set() *Set { return l.cur.Load() }

// Do runs fn through the stack of that name in force when it starts. It
// composes the stack for each call (about 180 ns and 6 allocations for a
// retry around a breaker); Wrap composes it once per configuration.
func (l *Live) Do(ctx context.Context, stack string, fn func(context.Context) error) error {
	ps, ok := l.cur.Load().Stack(stack)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoStack, stack)
	}
	return breakwater.Do(ctx, fn, ps...)
}

// Wrap returns fn decorated by the stack of that name in force when each
// call starts: the stack is composed once for each configuration put in
// force, on the first call after it, so that a call costs what it costs
// through breakwater.Wrap. A call while the configuration in force has no
// such stack fails with an error matching ErrNoStack.
func Wrap[T any](l *Live, stack string, fn func(context.Context) (T, error)) func(context.Context) (T, error) {
	type composed struct {
		set  *Set
		call func(context.Context) (T, error)
		err  error
	}
	var cur atomic.Pointer[composed]
	return func(ctx context.Context) (T, error) {
		s := l.cur.Load()
		c := cur.Load()
		if c == nil || c.set != s { // a reload since: compose the new stack (two callers may both)
			c = &composed{set: s}
			if ps, ok := s.Stack(stack); !ok {
				c.err = fmt.Errorf("%w: %q", ErrNoStack, stack)
			} else {
				c.call, c.err = breakwater.Wrap(fn, ps...)
			}
			cur.Store(c)
		}
		if c.err != nil {
			var zero T
			return zero, c.err
		}
		return c.call(ctx)
	}
}

// Configuration reports the file in force, for a watch.List (Add) and
// the dashboard: its path, how its reloads went (the files put in force
// since Open, those refused, the latest refusal's error), and each
// policy's settings as the file states them, with the environment's
// overrides.
func (l *Live) Configuration() watch.Configuration {
	c := watch.Configuration{Origin: l.path, Reloads: l.reloads.Load(), Refusals: l.refusals.Load()}
	if e := l.lastErr.Load(); e != nil {
		c.LastRefusal = (*e).Error()
	}
	set := l.cur.Load()
	f := set.file
	for _, name := range sortedKeys(f.Policies) {
		p := f.Policies[name]
		c.Policies = append(c.Policies, watch.ConfiguredPolicy{Name: name, Kind: p.kind, Settings: p.settings, Overrides: p.overrides,
			Policy: set.Policy(name)})
	}
	return c
}
