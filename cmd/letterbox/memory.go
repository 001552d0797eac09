package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// defaultMemoryLimit is --memory-limit's default: the Go runtime's soft memory limit.
const defaultMemoryLimit = 40 << 20

// byteSize is a flag of a number of bytes, written 41943040, 40MiB, 64MB, 1GiB or 0.
type byteSize int64

func (b *byteSize) String() string {
	switch n := int64(*b); {
	case n != 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	default:
		return strconv.FormatInt(n, 10)
	}
}

// Set parses a size: digits with an optional unit, KiB, MiB and GiB in powers of 1024, KB, MB
// and GB in powers of 1000.
func (b *byteSize) Set(v string) error {
	s := strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q is not a size (such as 40MiB, 64MB or 0)", v)
	}
	*b = byteSize(n * mult)
	return nil
}

// declareMemoryFlags declares --memory-limit.
func declareMemoryFlags(fs *flag.FlagSet, cfg *config) {
	cfg.MemoryLimit = defaultMemoryLimit
	fs.Var(&cfg.MemoryLimit, "memory-limit", "soft limit of the Go runtime's memory (the garbage collector works harder near it, and never lets it below twice the live heap); 0 turns it off; GOMEMLIMIT, when set, wins ["+envName("memory-limit")+"]")
}

// Memory tuning: how often the tuner looks, how little a tick may allocate to count as idle,
// and how many idle ticks in a row release memory.
const (
	memoryTick      = time.Second
	idleAllocBytes  = 1 << 20
	idleTicksToFree = 3
)

// memoryTuner keeps the Go runtime's soft memory limit at the larger of a floor and twice the
// live heap (a fixed limit below what the program holds would make the collector run all the
// time), and returns the memory the heap freed to the operating system once the program has
// idled a few seconds after work: after a burst of mail the collector's target and the pages it
// keeps for reuse would otherwise stay resident until the next burst.
type memoryTuner struct {
	floor      int64 // 0: no limit, only the release when idle
	limit      int64 // the limit set last
	allocs     uint64
	quiet      int
	released   bool
	setLimit   func(int64) int64
	freeMemory func()
}

// step takes the live heap and the bytes allocated so far, and sets the limit and releases
// memory as need be.
func (t *memoryTuner) step(live, allocs uint64) {
	if t.floor > 0 {
		limit := max(t.floor, 2*int64(live))
		// Only a change of more than 1/16 is worth telling the runtime.
		if d := limit - t.limit; d > t.limit/16 || -d > t.limit/16 {
			t.limit = limit
			t.setLimit(limit)
		}
	}
	busy := allocs-t.allocs >= idleAllocBytes
	t.allocs = allocs
	switch {
	case busy:
		t.quiet, t.released = 0, false
	case !t.released:
		if t.quiet++; t.quiet >= idleTicksToFree {
			t.freeMemory()
			t.released = true
		}
	}
}

// releaseMemory returns the memory the heap does not use to the operating system. It collects
// twice: what the first collection frees includes the buffers pools kept (sync.Pool keeps them
// one collection more as victims), which only the second frees.
func releaseMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// startMemoryTuner runs a memoryTuner until ctx is done, then lifts the limit. floor is
// --memory-limit; GOMEMLIMIT, when set in the environment, is the runtime's own limit and is
// left alone.
func startMemoryTuner(ctx context.Context, floor int64) {
	if os.Getenv("GOMEMLIMIT") != "" {
		floor = 0
	}
	t := &memoryTuner{floor: floor, setLimit: debug.SetMemoryLimit, freeMemory: releaseMemory}
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	read := func() (uint64, uint64) {
		metrics.Read(samples)
		return samples[0].Value.Uint64(), samples[1].Value.Uint64()
	}
	live, allocs := read()
	t.allocs = allocs
	t.step(live, allocs)
	go func() {
		tick := time.NewTicker(memoryTick)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				if floor > 0 {
					debug.SetMemoryLimit(math.MaxInt64)
				}
				return
			case <-tick.C:
				t.step(read())
			}
		}
	}()
}
