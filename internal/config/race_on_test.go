//go:build race

package config

// raceEnabled: the race detector slows parsing some tenfold, so the huge
// input test uses a smaller input under it.
const raceEnabled = true
