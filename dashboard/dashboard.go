// Package dashboard serves a live page of a service's circuits, retry
// policies, hedging and load-shedding policies: an http.Handler to mount
// in the service itself, standard library only, its page, script and
// style embedded (no external asset).
//
// The page follows a stream of snapshots (Server-Sent Events) and
// reconnects by itself when the connection drops. Per circuit it shows
// the state, the failure and slow-call rates over the last minutes as a
// small chart, calls a second, rejections, trips, the time in the state
// and until the next probe; circuits in trouble come first, and a filter
// box narrows them by name. It is read-only unless built with
// Config.Actions, which adds Trip, Reset and Force open buttons; every
// action is then logged with the address that asked.
//
//	d, err := dashboard.New(dashboard.Config{Watch: &watched})
//	mux.Handle("/dashboard/", http.StripPrefix("/dashboard", d))
package dashboard

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/breakwater-go/breakwater/clock"
	"github.com/breakwater-go/breakwater/config"
	"github.com/breakwater-go/breakwater/watch"
)

//go:embed assets
var assets embed.FS

// Defaults applied to the zero fields of a Config.
const (
	defaultInterval = 500 * time.Millisecond
	defaultHistory  = 360 // three minutes at two snapshots a second
)

// Config describes a dashboard.
type Config struct {
	// Watch is what the page shows: the breakers, retry, hedging and
	// load-shedding policies added to it, now and later. Required unless
	// Source is set.
	Watch *watch.List
	// Source, when set, adds circuits that are not breakers of this
	// process: those of a file or a store shared by processes.
	Source Source
	// Interval is how often the stream sends a snapshot, in [100ms, 1m].
	// Zero means 500 ms.
	Interval time.Duration
	// History is the number of snapshots each circuit's chart keeps, in
	// [2, 3600]. Zero means 360: three minutes at two a second.
	History int
	// Actions, when true, adds Trip, Reset and Force open buttons (those a
	// Source carries out, for its circuits): POST requests that change a
	// circuit's state. Without it the page and its handler are read-only:
	// the action endpoint answers 404.
	Actions bool
	// Logger receives a record of every action, with the name of the
	// circuit and the remote address of the request. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Clock times the stream. Nil means clock.System.
	Clock clock.Clock
}

// Handler is the dashboard: the page at its root, the stream at "events",
// one snapshot at "snapshot.json", and, with Config.Actions, the actions
// at "actions". Mount it under a prefix with http.StripPrefix. It is safe
// for concurrent use, and starts no goroutine of its own: snapshots are
// taken while someone watches, and shared by every viewer.
type Handler struct {
	cfg    Config
	static http.Handler

	mu          sync.Mutex
	last        time.Time // when the cached snapshot was taken
	cached      []byte    // with the circuits' history
	cachedLight []byte    // without
	history     map[string]*series
	prev        map[string]counts // per circuit, for rates
}

// New returns a dashboard described by cfg, or a *config.Error.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Watch == nil && cfg.Source == nil:
		return nil, &config.Error{Package: "dashboard", Field: "Watch", Reason: "is required without a Source"}
	case cfg.Interval != 0 && (cfg.Interval < 100*time.Millisecond || cfg.Interval > time.Minute):
		return nil, &config.Error{Package: "dashboard", Field: "Interval", Reason: fmt.Sprintf("must be in [100ms, 1m], got %v", cfg.Interval)}
	case cfg.History != 0 && (cfg.History < 2 || cfg.History > 3600):
		return nil, &config.Error{Package: "dashboard", Field: "History", Reason: fmt.Sprintf("must be in [2, 3600], got %d", cfg.History)}
	}
	if cfg.Watch == nil {
		cfg.Watch = &watch.List{}
	}
	if cfg.Interval == 0 {
		cfg.Interval = defaultInterval
	}
	if cfg.History == 0 {
		cfg.History = defaultHistory
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Clock = clock.Or(cfg.Clock)
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, static: http.FileServerFS(sub), history: map[string]*series{}, prev: map[string]counts{}}, nil
}

// ServeHTTP serves the page, its assets, the stream, a snapshot and the
// actions.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	switch strings.TrimPrefix(r.URL.Path, "/") {
	case "events":
		h.stream(w, r)
	case "snapshot.json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(h.snapshot(true))
	case "actions":
		if !h.cfg.Actions {
			http.NotFound(w, r)
			return
		}
		h.act(w, r)
	case "", "index.html", "app.js", "style.css":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.static.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// stream sends a snapshot every Interval until the client goes: the
// first with the circuits' history, the others with the values the page
// appends to it. The retry field tells the browser to reconnect after a
// second.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return
	}
	for first := true; ; first = false {
		if _, err := fmt.Fprintf(w, "data: %s\n\n", h.snapshot(first)); err != nil {
			return
		}
		flusher.Flush()
		t := h.cfg.Clock.NewTimer(h.cfg.Interval)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// act carries out one action on every breaker of the name, and logs it.
// It takes POST only, with the X-Breakwater-Action header, which a page of
// another origin cannot send without the service's consent (CORS).
func (h *Handler) act(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("X-Breakwater-Action") == "" {
		http.Error(w, "missing X-Breakwater-Action header", http.StatusForbidden)
		return
	}
	action, name := Action(r.FormValue("action")), r.FormValue("name")
	if !slices.Contains(allActions, action) {
		http.Error(w, "unknown action "+fmt.Sprintf("%q", action), http.StatusBadRequest)
		return
	}
	breakers, _ := h.cfg.Watch.Snapshot()
	n := 0
	for _, b := range breakers {
		if watch.ValidName(b.Name()) == name {
			breakerActions[action](b)
			n++
		}
	}
	if src := h.cfg.Source; src != nil && slices.Contains(src.Actions(), action) {
		switch err := src.Act(r.Context(), action, name); {
		case err == nil:
			n++
		case !errors.Is(err, ErrNoCircuit):
			h.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "dashboard action failed", slog.String("action", string(action)),
				slog.String("breaker", name), slog.String("remote", r.RemoteAddr), slog.String("error", err.Error()))
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if n == 0 {
		http.Error(w, fmt.Sprintf("no circuit named %q takes the action %q", name, action), http.StatusNotFound)
		return
	}
	h.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "dashboard action",
		slog.String("action", string(action)), slog.String("breaker", name), slog.Int("breakers", n), slog.String("remote", r.RemoteAddr))
	h.mu.Lock()
	h.last = time.Time{} // the next snapshot shows the change
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
