package extract

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jhillyerd/enmime/v2"
)

// The shared corpus holds real-world mail (bug reports, newsletters, logs, broken MIME) and no
// one-time codes: whatever Codes finds there is a false positive.
func TestCodesFindNothingInTheCorpus(t *testing.T) {
	files, _ := filepath.Glob("../../shared/corpus/*/*.eml")
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("../shared/corpus is missing")
		}
		t.Skip("../shared/corpus is missing")
	}
	for _, f := range files {
		raw, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		env, err := enmime.ReadEnvelope(raw)
		raw.Close()
		if err != nil {
			continue // the broken ones enmime cannot read at all
		}
		if codes := Codes(env.GetHeader("Subject"), env.Text); len(codes) > 0 {
			t.Errorf("%s: false codes %+v", filepath.Base(f), codes)
		}
		Links(env.HTML, env.Text) // must not panic on real HTML
	}
}
