package breakwater_test

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocsCompile type-checks every Go block of README.md and docs/*.md
// against the packages of the workspace, so that no page shows code that
// no longer builds. A block is a whole file (it starts with package), or
// imports followed by declarations, or imports followed by statements (run
// as a function's body). Blocks may use the names docPrelude declares
// (ctx, callAPI...) without declaring them, and the declarations of the
// blocks before them on their page; a variable or import a block
// declares and does not use is no error.
func TestDocsCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the export data of every package of the workspace")
	}
	pages, _ := filepath.Glob("docs/*.md")
	pages = append([]string{"README.md"}, pages...)
	type block struct {
		page string
		line int
		code string
	}
	var blocks []block
	for _, page := range pages {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		found := goBlocks(data)
		for _, line := range slices.Sorted(maps.Keys(found)) { // in page order: a block may use those before it
			blocks = append(blocks, block{page, line, found[line]})
		}
	}
	if out, err := exec.Command("go", "env", "GOWORK").Output(); err != nil || strings.TrimSpace(string(out)) == "" {
		t.Skip("the pages show every module of the workspace: run with its go.work")
	}
	imports := map[string]bool{}
	for i, b := range blocks {
		blocks[i].code = withImports(b.code)
		for _, path := range importPaths(blocks[i].code) {
			imports[path] = true
		}
	}
	for _, path := range preludeImports {
		imports[path] = true
	}
	exports := exportData(t, slices.Sorted(func(yield func(string) bool) {
		for p := range imports {
			if !yield(p) {
				return
			}
		}
	}))
	imp := importer.ForCompiler(token.NewFileSet(), "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %q", path)
		}
		return os.Open(file)
	})
	checked := 0
	declared := map[string][]string{} // per page, its blocks of declarations so far
	for _, b := range blocks {
		name := fmt.Sprintf("%s:%d", b.page, b.line)
		src := blockSource(b.code)
		errs := checkBlock(src, declared[b.page], imp)
		if !strings.Contains(src, "func _() {") {
			declared[b.page] = append(declared[b.page], src)
		}
		if len(errs) > 0 {
			t.Errorf("%s: the Go block does not compile:\n\t%s\n%s", name, strings.Join(errs, "\n\t"), b.code)
			continue
		}
		checked++
	}
	t.Logf("%d Go blocks of %d pages type-checked", checked, len(pages))
}

// knownPackages are the packages a block may use without importing them,
// by name: this project's, and those the pages show most.
var knownPackages = map[string]string{
	"context": "context", "errors": "errors", "fmt": "fmt", "time": "time", "http": "net/http",
	"log": "log", "slog": "log/slog", "os": "os", "signal": "os/signal", "syscall": "syscall",
	"testing": "testing", "io": "io", "strings": "strings", "json": "encoding/json", "net": "net",
	"httptest": "net/http/httptest",
	"redis":    "github.com/redis/go-redis/v9", "prometheus": "github.com/prometheus/client_golang/prometheus",
	"promhttp": "github.com/prometheus/client_golang/prometheus/promhttp",
	"grpc":     "google.golang.org/grpc", "codes": "google.golang.org/grpc/codes", "status": "google.golang.org/grpc/status",
	"otel":      "go.opentelemetry.io/otel",
	"clocktest": module + "/clock/clocktest", "breakwater": module,
}

const module = "github.com/breakwater-go/breakwater"

func init() {
	for _, name := range []string{"adaptive", "admission", "attempt", "breaker", "bulkhead", "bwhttp", "bwslog", "clock",
		"config", "dashboard", "fallback", "hedge", "outcome", "ratelimit", "registry", "retry", "stackfile", "throttle", "timeout",
		"watch", "bwgrpc", "bwotel", "bwprom", "bwredis", "bwyaml"} {
		knownPackages[name] = module + "/" + name
	}
}

// withImports adds to a block that is not a whole file an import of each
// known package it names (name.Something) without importing it.
func withImports(code string) string {
	if strings.HasPrefix(strings.TrimSpace(code), "package ") {
		return code
	}
	have := map[string]bool{}
	for _, path := range importPaths(code) {
		have[path] = true
	}
	var add []string
	for name, path := range knownPackages {
		if !have[path] && regexp.MustCompile(`(^|[^\w.])`+name+`\.[A-Z]`).MatchString(code) {
			add = append(add, fmt.Sprintf("import %q\n", path))
		}
	}
	slices.Sort(add)
	return strings.Join(add, "") + code
}

// goBlocks returns the ```go blocks of a Markdown page by the line they
// start on.
func goBlocks(page []byte) map[int]string {
	out := map[int]string{}
	sc := bufio.NewScanner(bytes.NewReader(page))
	var cur *strings.Builder
	start := 0
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```go":
			cur, start = &strings.Builder{}, n
		case cur != nil && strings.TrimSpace(line) == "```":
			out[start] = cur.String()
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return out
}

var importLine = regexp.MustCompile(`^\s*(?:import\s+)?(?:[\w.]+\s+)?"([^"]+)"\s*$`)

// splitImports cuts a block's leading import declarations from the rest.
func splitImports(code string) (imports, rest string) {
	lines := strings.SplitAfter(code, "\n")
	inGroup := false
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		switch {
		case inGroup && trimmed == ")":
			inGroup = false
		case inGroup, trimmed == "":
		case trimmed == "import (":
			inGroup = true
		case strings.HasPrefix(trimmed, "import ") && importLine.MatchString(trimmed):
		default:
			return strings.Join(lines[:i], ""), strings.Join(lines[i:], "")
		}
	}
	return code, ""
}

func importPaths(code string) []string {
	if strings.HasPrefix(strings.TrimSpace(code), "package ") {
		f, err := parser.ParseFile(token.NewFileSet(), "", code, parser.ImportsOnly)
		if err != nil {
			return nil
		}
		var out []string
		for _, s := range f.Imports {
			out = append(out, strings.Trim(s.Path.Value, `"`))
		}
		return out
	}
	imports, _ := splitImports(code)
	var out []string
	for _, line := range strings.Split(imports, "\n") {
		if m := importLine.FindStringSubmatch(line); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// blockSource makes a block a file of package doc: a whole file as it is,
// declarations after their imports, statements in a function's body.
func blockSource(code string) string {
	switch imports, rest := splitImports(code); {
	case strings.HasPrefix(strings.TrimSpace(code), "package "):
		return regexp.MustCompile(`(?m)^package \w+`).ReplaceAllString(code, "package doc")
	case parses("package doc\n" + code):
		return "package doc\n" + code
	default:
		return "package doc\n" + imports + "\nfunc _() {\n" + rest + "\n}\n"
	}
}

// checkBlock type-checks one block's source with the prelude and the
// declarations of the blocks before it on its page, and returns its errors
// but those of names declared and not used.
func checkBlock(src string, before []string, imp types.Importer) []string {
	fset := token.NewFileSet()
	var errs []string
	files := []*ast.File{}
	for _, text := range append([]string{src, docPrelude}, before...) {
		f, err := parser.ParseFile(fset, "", text, 0)
		if err != nil {
			return []string{err.Error()}
		}
		files = append(files, f)
	}
	conf := types.Config{Importer: imp, Error: func(err error) {
		msg := err.Error()
		if strings.Contains(msg, "declared and not used") || strings.Contains(msg, "imported and not used") {
			return
		}
		errs = append(errs, msg)
	}}
	_, _ = conf.Check("doc", fset, files, nil)
	// A block that declares what the prelude does (its own ctx) keeps
	// its own: drop the prelude's name from the complaint.
	return slices.DeleteFunc(errs, func(e string) bool {
		return strings.Contains(e, "other declaration of") || strings.Contains(e, "redeclared in this block")
	})
}

func parses(src string) bool {
	_, err := parser.ParseFile(token.NewFileSet(), "", src, 0)
	return err == nil
}

// exportData builds the listed packages' export data and returns each
// file by import path, the standard library's included.
func exportData(t *testing.T, imports []string) map[string]string {
	t.Helper()
	args := append([]string{"list", "-export", "-deps", "-f", "{{.ImportPath}}={{.Export}}"}, imports...)
	cmd := exec.Command("go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -export: %v\n%s", err, stderr.String())
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if path, file, ok := strings.Cut(line, "="); ok && file != "" {
			m[path] = file
		}
	}
	return m
}

// preludeImports are the packages docPrelude imports.
var preludeImports = []string{"context", "log/slog", "net/http", module + "/breaker", module + "/bwprom",
	module + "/ratelimit", module + "/registry", module + "/retry", module + "/timeout", module + "/watch", "github.com/redis/go-redis/v9", "google.golang.org/grpc"}

// docPrelude declares what the blocks use without declaring: the request
// context, the calls a page protects, and the values earlier blocks of a
// page made.
const docPrelude = `package doc

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/breakwater-go/breakwater/breaker"
	"github.com/breakwater-go/breakwater/bwprom"
	"github.com/breakwater-go/breakwater/ratelimit"
	"github.com/breakwater-go/breakwater/registry"
	"github.com/breakwater-go/breakwater/retry"
	"github.com/breakwater-go/breakwater/timeout"
	"github.com/breakwater-go/breakwater/watch"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
)

var (
	ctx        = context.Background()
	err        error
	req        *http.Request
	mux        *http.ServeMux
	logger     *slog.Logger
	retries    *retry.Policy
	circuit    *breaker.Breaker
	hosts      *registry.Registry[*breaker.Breaker]
	collector  *bwprom.Collector
	rdb        *redis.Client
	localShare *ratelimit.Limiter
	target     string
	creds      grpc.DialOption
	perTry     *timeout.Policy
	watched    watch.List
)

type Order struct{ ID string }

func callAPI(context.Context) error                 { return nil }
func fetchOrder(context.Context) (Order, error)     { return Order{}, nil }
func fetch(context.Context) (*http.Response, error) { return nil, nil }
func cachedPage(*http.Request) (*http.Response, error) { return nil, nil }
`

// TestReadmeFromAClone follows the README from a clone to a protected
// call in a module of one's own: its go mod edit line, with the clone's
// path, in a new module outside the tree, and its quick start program as
// that module's main.go, run offline.
func TestReadmeFromAClone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program in a new module")
	}
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var program string
	for _, code := range goBlocks(data) {
		if strings.HasPrefix(code, "package main") {
			program = code
		}
	}
	edit := regexp.MustCompile(`(?m)^go mod edit (?:.*\\\n)*.*$`).FindString(string(data))
	if program == "" || edit == "" {
		t.Fatal("the README has no quick start program or no go mod edit line")
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	edit = strings.ReplaceAll(edit, "$HOME/src/breakwater", root)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(program), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"go mod init example.com/myservice", edit, "go run ."} {
		cmd := exec.Command("sh", "-c", step)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", step, err, out)
		}
		if step == "go run ." {
			t.Logf("%s", out)
			if !strings.Contains(string(out), "paid on attempt 3") {
				t.Fatalf("the quick start printed %q", out)
			}
		}
	}
}
