package main

import (
	"testing"

	"github.com/breakwater-go/breakwater/internal/leakcheck"
)

// No goroutine started by a test outlives the tests.
func TestMain(m *testing.M) { leakcheck.Main(m) }
