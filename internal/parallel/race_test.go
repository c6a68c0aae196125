//go:build race

package parallel

// raceEnabled: the race detector allocates, so allocation counts differ.
const raceEnabled = true
