//go:build race

package bwredis_test

// raceSlowdown is how much slower the race detector makes the client's
// own work, for the tests that time a Redis round against a deadline.
const raceSlowdown = 10
