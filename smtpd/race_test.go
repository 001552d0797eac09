//go:build race

package smtpd

// raceEnabled reports whether the race detector is on (it slows the child processes tenfold).
const raceEnabled = true
