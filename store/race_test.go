//go:build race

package store_test

// raceDetector says the tests run under the race detector, which makes the slowest of them
// several times slower: they do less there.
const raceDetector = true
