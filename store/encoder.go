package store

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// idleEncoder is the zstd encoder of stored messages, made when a message needs it and dropped
// when the writer idles after a burst (release): the encoders' tables and history buffers are
// some 3 MB of live heap after a fill of the realistic mix, which an idle catcher has no use for
// and the garbage collector's target would otherwise double. It is safe for concurrent use.
type idleEncoder struct {
	opts []zstd.EOption
	mu   sync.RWMutex
	enc  *zstd.Encoder // nil once released, until the next message
}

// newIdleEncoder checks opts by making the first encoder with them; the encoders made after a
// release use the same options, so they cannot fail.
func newIdleEncoder(opts ...zstd.EOption) (*idleEncoder, error) {
	enc, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: zstd: %w", err)
	}
	return &idleEncoder{opts: opts, enc: enc}, nil
}

// EncodeAll compresses src and appends it to dst, as zstd.Encoder.EncodeAll does.
func (e *idleEncoder) EncodeAll(src, dst []byte) []byte {
	e.mu.RLock()
	for e.enc == nil {
		e.mu.RUnlock()
		e.mu.Lock()
		if e.enc == nil {
			enc, err := zstd.NewWriter(nil, e.opts...)
			if err != nil { // the same options made the first encoder at open
				e.mu.Unlock()
				panic(fmt.Sprintf("store: zstd options that worked at open fail: %v", err))
			}
			e.enc = enc
		}
		e.mu.Unlock()
		e.mu.RLock()
	}
	defer e.mu.RUnlock()
	return e.enc.EncodeAll(src, dst)
}

// release drops the encoder, after the compressions under way; the next message makes another.
func (e *idleEncoder) release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc != nil {
		e.enc.Close()
		e.enc = nil
	}
}

// Close releases the encoder.
func (e *idleEncoder) Close() error {
	e.release()
	return nil
}
