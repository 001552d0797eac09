package store

import (
	"fmt"
	"io"

	"golang.org/x/net/html/charset"
)

// charsetReader converts text in a named charset to UTF-8 for RFC 2047 decoding.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	r, err := charset.NewReaderLabel(label, input)
	if err != nil {
		return nil, fmt.Errorf("store: charset %q: %w", label, err)
	}
	return r, nil
}
