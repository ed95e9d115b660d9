// Package bwyaml reads package stackfile's configuration files written in
// YAML: the same fields, named the same way, in YAML's syntax. It is a
// module of its own, so that the core requires nothing.
//
//	policies:
//	  retries:
//	    retry: {maxAttempts: 4, delay: 100ms, multiplier: 2, jitter: full}
//	  circuit:
//	    breaker:
//	      trip: {timeWindow: {length: 10s, failureRate: 0.5, minCalls: 20}}
//	      openDuration: 5s
//	stacks:
//	  api: [retries, circuit]
package bwyaml

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/breakwater-go/breakwater/stackfile"
	"go.yaml.in/yaml/v3"
)

// ToJSON turns one YAML document into JSON, for stackfile.Parse and for
// stackfile.Options.Decode. Mappings must have string keys; YAML's
// numbers, booleans, strings, lists and null keep their JSON meaning, so
// a file's errors name the same paths in either syntax.
func ToJSON(data []byte) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc any
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("not YAML: the file is empty")
		}
		return nil, fmt.Errorf("not YAML: %v", err)
	}
	var more any
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New("not YAML: more than one document")
	}
	v, err := jsonable(doc, "")
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// jsonable checks that v, decoded from YAML at path, has a JSON meaning.
func jsonable(v any, path string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			j, err := jsonable(e, join(path, k))
			if err != nil {
				return nil, err
			}
			x[k] = j
		}
		return x, nil
	case map[any]any:
		return nil, fmt.Errorf("not YAML this package reads: %s has a key that is not a string", where(path))
	case []any:
		for i, e := range x {
			j, err := jsonable(e, fmt.Sprintf("%s[%d]", where(path), i))
			if err != nil {
				return nil, err
			}
			x[i] = j
		}
		return x, nil
	case float64:
		if x != x || x > 1e308 || x < -1e308 {
			return nil, fmt.Errorf("not YAML this package reads: %s is not a finite number", where(path))
		}
	}
	return v, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func where(path string) string {
	if path == "" {
		return "the document"
	}
	return path
}

// Parse reads a YAML file's contents as stackfile.Parse reads JSON.
func Parse(data []byte, origin string, env []string) (*stackfile.File, error) {
	j, err := ToJSON(data)
	if err != nil {
		return nil, &stackfile.Error{File: origin, Reason: err.Error()}
	}
	return stackfile.Parse(j, origin, env)
}

// Load reads the YAML file at path, with the process's environment's
// overrides, as stackfile.Load reads JSON.
func Load(path string) (*stackfile.File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path, os.Environ())
}
