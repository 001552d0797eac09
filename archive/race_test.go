//go:build race

package archive

// raceEnabled reports whether the race detector is on: it makes MIME parsing some twenty times
// slower.
const raceEnabled = true
