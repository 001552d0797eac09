//go:build race

package main

// raceEnabled reports whether the race detector is on: it makes the letterbox child processes
// (and their MIME parsing) many times slower.
const raceEnabled = true
