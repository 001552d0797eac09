package main

import (
	"io"
	"strings"
	"testing"
)

func TestMemoryLimitFlag(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	cfg, err := parseConfig(nil, getenv, io.Discard)
	if err != nil || cfg.MemoryLimit != 40<<20 {
		t.Fatalf("default: %v (%v), want 40MiB", cfg.MemoryLimit.String(), err)
	}
	env["LETTERBOX_MEMORY_LIMIT"] = "64MiB"
	if cfg, err = parseConfig(nil, getenv, io.Discard); err != nil || cfg.MemoryLimit != 64<<20 {
		t.Errorf("LETTERBOX_MEMORY_LIMIT=64MiB: %v (%v)", cfg.MemoryLimit.String(), err)
	}
	if cfg, err = parseConfig([]string{"--memory-limit", "0"}, getenv, io.Discard); err != nil || cfg.MemoryLimit != 0 {
		t.Errorf("--memory-limit 0 over the environment: %v (%v)", cfg.MemoryLimit.String(), err)
	}
	for in, want := range map[string]int64{"41943040": 40 << 20, "100 MB": 100e6, "1gib": 1 << 30, "512KiB": 512 << 10, "2048B": 2048} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q = %d (%v), want %d", in, b, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1MiB", "40 XB", "1.5GiB", "9999999999GiB"} {
		if _, err := parseConfig([]string{"--memory-limit", bad}, getenv, io.Discard); err == nil || !strings.Contains(err.Error(), "memory-limit") {
			t.Errorf("--memory-limit %q: %v", bad, err)
		}
	}
}

// TestMemoryTuner: the limit follows twice the live heap above the floor, and memory is
// released once after a few idle ticks that follow work, not again until work comes back.
func TestMemoryTuner(t *testing.T) {
	var limits []int64
	frees := 0
	tu := &memoryTuner{floor: 40 << 20,
		setLimit:   func(n int64) int64 { limits = append(limits, n); return 0 },
		freeMemory: func() { frees++ }}
	const mb = 1 << 20
	var allocs uint64
	tick := func(live, allocated uint64) {
		allocs += allocated
		tu.step(live, allocs)
	}
	tick(5*mb, 50*mb) // busy
	tick(30*mb, 50*mb)
	tick(31*mb, 50*mb) // 62 MiB is within 1/16 of 60 MiB: not set again
	tick(10*mb, 50*mb)
	if want := []int64{40 << 20, 60 << 20, 40 << 20}; len(limits) != len(want) || limits[0] != want[0] || limits[1] != want[1] || limits[2] != want[2] {
		t.Errorf("limits %v, want %v", limits, want)
	}
	for range idleTicksToFree - 1 {
		tick(10*mb, 1000)
	}
	if frees != 0 {
		t.Fatalf("released after %d idle ticks", idleTicksToFree-1)
	}
	for range 10 {
		tick(10*mb, 1000)
	}
	if frees != 1 {
		t.Fatalf("%d releases over a long idle, want 1", frees)
	}
	tick(10*mb, 20*mb)
	for range idleTicksToFree {
		tick(10*mb, 0)
	}
	if frees != 2 {
		t.Errorf("%d releases after work and idle again, want 2", frees)
	}

	off := &memoryTuner{setLimit: func(int64) int64 { t.Error("a limit set with --memory-limit 0"); return 0 }, freeMemory: func() {}}
	off.step(100*mb, 100*mb)
}
