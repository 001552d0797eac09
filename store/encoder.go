package store

import (
	"fmt"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

// idleEncoder is the zstd encoder of stored messages, made when a message needs it and dropped
// when the writer idles after a burst (release): the encoders' tables and history buffers are
// some 3 MB of live heap after a fill of the realistic mix, which an idle catcher has no use for
// and the garbage collector's target would otherwise double. An encoder that only ever ran
// EncodeAll holds no goroutines and needs no Close, so dropping it is enough: a compression
// still running on it finishes, and the collector frees it after. It is safe for concurrent use.
type idleEncoder struct {
	opts []zstd.EOption
	enc  atomic.Pointer[zstd.Encoder] // nil once released, until the next message
}

// newIdleEncoder checks opts by making the first encoder with them; the encoders made after a
// release use the same options, so they cannot fail.
func newIdleEncoder(opts ...zstd.EOption) (*idleEncoder, error) {
	enc, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: zstd: %w", err)
	}
	e := &idleEncoder{opts: opts}
	e.enc.Store(enc)
	return e, nil
}

// EncodeAll compresses src and appends it to dst, as zstd.Encoder.EncodeAll does.
func (e *idleEncoder) EncodeAll(src, dst []byte) []byte {
	enc := e.enc.Load()
	if enc == nil {
		var err error
		if enc, err = zstd.NewWriter(nil, e.opts...); err != nil { // the same options made the first encoder at open
			panic(fmt.Sprintf("store: zstd options that worked at open fail: %v", err))
		}
		e.enc.CompareAndSwap(nil, enc) // two first messages may each make one: either serves
	}
	return enc.EncodeAll(src, dst)
}

// release drops the encoder; the next message makes another.
func (e *idleEncoder) release() { e.enc.Store(nil) }

// Close releases the encoder.
func (e *idleEncoder) Close() error {
	e.release()
	return nil
}
