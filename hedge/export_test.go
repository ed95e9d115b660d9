package hedge

// TakeBudgetForTest deposits one call's share of the ratio budget and
// takes a hedge from it, as a call that hedges does.
func (p *Policy) TakeBudgetForTest() bool {
	p.deposit()
	return p.allow(nil)
}
