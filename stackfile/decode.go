package stackfile

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// decoder walks the JSON tree of a file, keeping the path of what it
// reads, so that every error names the file, the path and the field. Every
// known field is visited, present or not, so that an environment override
// can set a field the file leaves out. It keeps the first error.
type decoder struct {
	file string
	env  map[string]string // overrides by variable name, taken as used
	used map[string]bool
	// applied are the overrides used since the caller last cleared it.
	applied []string
	err     error
}

// fail records the first error: the field at path is wrong.
func (d *decoder) fail(path, format string, args ...any) {
	if d.err == nil {
		d.err = &Error{File: d.file, Path: path, Reason: fmt.Sprintf(format, args...)}
	}
}

// fields is how an object's known fields are read: each gets its path and
// its JSON value (nil when absent).
type fields map[string]func(path string, v any)

// object reads v, which must be an object (or absent), through fs: a key
// fs does not know is an error, so that a misspelt field is not ignored.
func (d *decoder) object(path string, v any, fs fields) {
	m, ok := v.(map[string]any)
	if v != nil && !ok {
		d.fail(path, "must be an object, got %s", describe(v))
		return
	}
	for _, k := range sortedKeys(m) {
		if fs[k] == nil {
			d.fail(join(path, k), "unknown field (known: %s)", strings.Join(sortedKeys(fs), ", "))
			return
		}
	}
	for _, k := range sortedKeys(fs) {
		fs[k](join(path, k), m[k])
	}
}

// leaf returns the value of the field at path: the environment's override
// if there is one (a string, parsed by the caller), else the file's.
func (d *decoder) leaf(path string, v any) any {
	name := envName(path)
	if s, ok := d.env[name]; ok {
		d.used[name] = true
		d.applied = append(d.applied, name+"="+s)
		return envValue(s)
	}
	return v
}

// envValue is an override's string as the JSON value it stands for: a
// number or a boolean when it reads as one, else the string.
type envValue string

func (d *decoder) duration(path string, v any, dst *time.Duration) {
	switch x := d.leaf(path, v).(type) {
	case nil:
	case string:
		d.parseDuration(path, x, dst)
	case envValue:
		d.parseDuration(path, string(x), dst)
	default:
		d.fail(path, `must be a duration such as "30s" or "250ms", got %s`, describe(x))
	}
}

func (d *decoder) parseDuration(path, s string, dst *time.Duration) {
	v, err := time.ParseDuration(s)
	if err != nil {
		d.fail(path, `must be a duration such as "30s" or "250ms", got %q`, s)
		return
	}
	*dst = v
}

func (d *decoder) number(path string, v any) (float64, bool) {
	switch x := d.leaf(path, v).(type) {
	case nil:
		return 0, false
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) {
			d.fail(path, "must be a number, got %s", x)
			return 0, false
		}
		return f, true
	case envValue:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			d.fail(path, "must be a number, got %q", string(x))
			return 0, false
		}
		return f, true
	default:
		d.fail(path, "must be a number, got %s", describe(x))
		return 0, false
	}
}

func (d *decoder) float(path string, v any, dst *float64) {
	if f, ok := d.number(path, v); ok {
		*dst = f
	}
}

// integer reads a whole number within ±1e9: every count of every policy
// is bounded far below, and its constructor names the field's own bound.
func (d *decoder) integer(path string, v any, dst *int) {
	f, ok := d.number(path, v)
	if !ok {
		return
	}
	if f != math.Trunc(f) || math.Abs(f) > 1e9 {
		d.fail(path, "must be a whole number within ±1e9, got %v", f)
		return
	}
	*dst = int(f)
}

func (d *decoder) boolean(path string, v any, dst *bool) {
	switch x := d.leaf(path, v).(type) {
	case nil:
	case bool:
		*dst = x
	case envValue:
		b, err := strconv.ParseBool(string(x))
		if err != nil {
			d.fail(path, "must be true or false, got %q", string(x))
			return
		}
		*dst = b
	default:
		d.fail(path, "must be true or false, got %s", describe(x))
	}
}

// choice reads a string that must be one of names, and returns its index;
// -1 when absent.
func (d *decoder) choice(path string, v any, names []string) int {
	var s string
	switch x := d.leaf(path, v).(type) {
	case nil:
		return -1
	case string:
		s = x
	case envValue:
		s = string(x)
	default:
		d.fail(path, "must be one of %s, got %s", strings.Join(names, ", "), describe(x))
		return -1
	}
	i := slices.Index(names, s)
	if i < 0 {
		d.fail(path, "must be one of %s, got %q", strings.Join(names, ", "), s)
	}
	return i
}

// describe names a JSON value's type for an error.
func describe(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return strconv.Quote(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", v)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// EnvPrefix starts the name of every environment variable that overrides
// a field of a file. The rest of the name is the field's path inside the
// file, upper-cased, with every character that is not a letter or a digit
// made an underscore: policies.api-breaker.breaker.openDuration is
// BREAKWATER_POLICIES_API_BREAKER_BREAKER_OPENDURATION.
const EnvPrefix = "BREAKWATER_"

// envName is the environment variable that overrides the field at path.
func envName(path string) string {
	var b strings.Builder
	b.WriteString(EnvPrefix)
	for _, r := range path {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
