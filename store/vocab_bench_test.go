package store

import (
	"testing"

	"github.com/letterbox-mail/letterbox/internal/realmail"
)

// BenchmarkVocabularyOf is what prepare adds for the vocabulary: the distinct words of the
// indexed text of messages of the realistic mix.
func BenchmarkVocabularyOf(b *testing.B) {
	s := tempStore(b)
	var recs []*record
	for i := range 64 {
		m := realmail.Mix(i)
		recs = append(recs, s.prepare(Envelope{MailFrom: m.From, Recipients: m.To}, nil, m.Raw))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f := &recs[i%len(recs)].fts
		vocabularyOf(f.subject, f.sender, f.recipients, f.messageID, f.headers, f.body, f.attachments)
		i++
	}
}
