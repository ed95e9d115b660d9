package hedge_test

import (
	"testing"

	"github.com/breakwater-go/breakwater/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }
