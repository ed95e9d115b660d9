package watch

import "testing"

// The counts of names gone are kept for a policy made again under them,
// but not without bound: names come from the outside world.
func TestCarryForgetsTheNamesGoneLongest(t *testing.T) {
	var cr carry[int, int]
	add := func(a *int, b int) { *a += b }
	for i := range 3 * keptGone {
		policy := new(int)
		cr.update(map[any]carried[int, int]{policy: {i, 1}}, add) // name i lives for one report
	}
	cr.update(nil, add)
	if len(cr.gone) > keptGone || len(cr.retired) > keptGone {
		t.Fatalf("%d names gone kept, %d counts: want at most %d", len(cr.gone), len(cr.retired), keptGone)
	}
	if _, kept := cr.retired[3*keptGone-1]; !kept {
		t.Fatal("the name gone last was forgotten")
	}
}
