//go:build !race

package smtpd

const raceEnabled = false
