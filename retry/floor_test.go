package retry

import (
	"testing"
	"time"

	"github.com/breakwater-go/breakwater/clock/clocktest"
)

// A caller held up after reading the clock gets a floor retry that is
// there now, though callers that read the clock later moved the floor's
// schedule past its reading.
func TestAStaleReadingGetsTheFloor(t *testing.T) {
	clk := clocktest.NewFake(time.Time{})
	b, err := NewBudget(BudgetConfig{MinRetriesPerSecond: 1, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	for b.takeFloor() { // empty the floor
	}
	stale := clk.Since(b.origin)
	clk.Advance(5 * time.Second) // five floor retries come
	for range 3 {
		if !b.takeFloor() {
			t.Fatal("no floor retry")
		}
	}
	if !b.takeFloorAt(stale) {
		t.Fatal("refused on a reading 5 s old with floor retries there")
	}
}
