//go:build !race

package bwredis_test

// raceSlowdown is how much slower the race detector makes the client's
// own work: not running here.
const raceSlowdown = 1
