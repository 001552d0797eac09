package htmlcheck

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/jhillyerd/enmime/v2"
)

// corpusHTML returns the HTML bodies of the shared corpus (../shared/corpus), skipping (or, under
// CI=true, failing) when it is missing.
func corpusHTML(tb testing.TB) []string {
	tb.Helper()
	dir := filepath.Join("..", "..", "shared", "corpus")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("shared corpus missing: %v", err)
		}
		tb.Skipf("shared corpus missing: %v", err)
	}
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".eml" {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		env, err := enmime.ReadEnvelope(bytes.NewReader(raw))
		if err == nil && env.HTML != "" {
			out = append(out, env.HTML)
		}
		return nil
	})
	if len(out) == 0 {
		tb.Fatal("no HTML in the corpus")
	}
	return out
}

// TestCorpus: every HTML body of the shared corpus (real newsletters, receipts, broken mail)
// checks without error, and lines stay within the document.
func TestCorpus(t *testing.T) {
	for _, doc := range corpusHTML(t) {
		res, err := Check(doc)
		if err != nil {
			t.Fatal(err)
		}
		n := bytes.Count([]byte(doc), []byte("\n")) + 1
		for _, w := range res.Warnings {
			for _, l := range w.Lines {
				if l < 1 || l > n {
					t.Fatalf("%s on line %d of %d", w.Slug, l, n)
				}
			}
		}
	}
}

// BenchmarkCheckCorpus is one html-check of each HTML body of the shared corpus.
func BenchmarkCheckCorpus(b *testing.B) {
	docs := corpusHTML(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Check(docs[i%len(docs)]); err != nil {
			b.Fatal(err)
		}
	}
}
