package store

import "testing"

// BenchmarkVocabularyOf is what prepare adds for the vocabulary: the distinct words of a 4 KB
// message's indexed text.
func BenchmarkVocabularyOf(b *testing.B) {
	s := tempStore(b)
	rec := s.prepare(Envelope{MailFrom: "orders@shop.example", Recipients: []string{"customer1@example.org"}}, nil, Message4K(1))
	f := &rec.fts
	b.ReportAllocs()
	for b.Loop() {
		vocabularyOf(f.subject, f.sender, f.recipients, f.messageID, f.headers, f.body, f.attachments)
	}
}
