package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// mailbox is a prepared set of messages that every search filter is checked against.
func mailbox(t *testing.T) (*store.Store, map[string]string) {
	t.Helper()
	ctx := context.Background()
	s := openStore(t, store.Options{})
	ids := map[string]string{}
	put := func(name string, env store.Envelope, raw string) {
		ids[name] = add(t, s, env, []byte(strings.ReplaceAll(raw, "\n", "\r\n"))).ID
	}
	put("welcome", store.Envelope{MailFrom: "noreply@shop.example", Recipients: []string{"bob@example.org"}, Received: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)},
		"From: Shop <noreply@shop.example>\nTo: Bob Smith <bob@example.org>\nSubject: Welcome to the Shop\nMessage-ID: <w1@shop.example>\nX-Campaign: spring-sale\n\nHello Bob, your springtime discount code is SAVE10.\n")
	put("invoice", store.Envelope{MailFrom: "billing@shop.example", Recipients: []string{"alice@example.org", "audit@example.org"}, Received: time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)},
		"From: Billing & Co <billing@shop.example>\nTo: alice@example.org\nCc: Carol <carol@example.net>\nReply-To: support@shop.example\nSubject: Invoice #42\nMessage-ID: <inv42@shop.example>\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nYour invoice is attached.\n--b\nContent-Type: application/pdf; name=invoice-42.pdf\nContent-Disposition: attachment; filename=invoice-42.pdf\n\n%PDF-1.4 fake\n--b--\n")
	put("reset", store.Envelope{MailFrom: "auth@app.example", Recipients: []string{"alice@example.org"}, Received: time.Date(2024, 4, 1, 10, 0, 0, 0, time.UTC)},
		"From: auth@app.example\nTo: alice@example.org\nSubject: Reset your password\nContent-Type: text/html\n\n<p>Click <a href=\"https://app.example/reset?t=xyz\">here</a> to reset. Über-secure.</p>\n")
	put("big", store.Envelope{MailFrom: "reports@app.example", Recipients: []string{"team+weekly@example.org"}, Received: time.Date(2024, 4, 2, 10, 0, 0, 0, time.UTC)},
		"From: reports@app.example\nTo: team+weekly@example.org\nSubject: Weekly report\n\n"+strings.Repeat("numbers and figures ", 1000)+"\n")
	if err := s.SetRead(ctx, []string{ids["welcome"]}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTags(ctx, []string{ids["invoice"]}, []string{"Billing"}); err != nil {
		t.Fatal(err)
	}
	return s, ids
}

func TestSearchFilters(t *testing.T) {
	ctx := context.Background()
	s, ids := mailbox(t)
	cases := []struct {
		query string
		want  []string // names, newest first
	}{
		{"", []string{"big", "reset", "invoice", "welcome"}},
		{"springtime", []string{"welcome"}},
		{"SPRING", []string{"welcome"}},      // case-insensitive
		{"spring-sale", []string{"welcome"}}, // custom header values are searchable
		{"header:X-Campaign:spring", []string{"welcome"}},
		{"header:X-Campaign:pring", []string{"welcome"}},
		{"header:X-Campaign:", []string{"welcome"}}, // the header at all
		{"header:X-Campaign:ring-sa", []string{"welcome"}},
		{`"discount code"`, []string{"welcome"}},
		{`"code discount"`, nil},
		{"invoice", []string{"invoice"}}, // subject and attachment name
		{"invoice-42.pdf", []string{"invoice"}},
		{"uber", []string{"reset"}}, // diacritics folded
		{"reset -password", nil},
		{"reset !password", nil},
		{"-reset", []string{"big", "invoice", "welcome"}},
		{"to:alice@example.org", []string{"reset", "invoice"}},
		{"to:example.org", []string{"big", "reset", "invoice", "welcome"}},
		{"to:bob", []string{"welcome"}},
		{"to:alice@example.or", []string{"reset", "invoice"}}, // substrings: the last word may be cut short
		{"to:lice@example.org", []string{"reset", "invoice"}}, // and the first may start inside a word
		{"to:bob@example.org.uk", nil},
		{"ringtime", []string{"welcome"}}, // inside a word
		{"PRINGTIM", []string{"welcome"}},
		{"hop.exam", []string{"invoice", "welcome"}}, // shop.example
		{"nvoice", []string{"invoice"}},
		{"subject:elcome", []string{"welcome"}},
		{"from:illing", []string{"invoice"}},
		{"body:igure", []string{"big"}},
		{"-ringtime", []string{"big", "reset", "invoice"}},
		{"ber-secure", []string{"reset"}}, // Über-secure, diacritics folded
		{"xample.org alic", []string{"reset", "invoice"}},
		{`to:"Bob Smith"`, []string{"welcome"}},
		{"cc:carol", []string{"invoice"}},
		{"bcc:audit@example.org", []string{"invoice"}}, // envelope-only recipient
		{"from:billing", []string{"invoice"}},
		{`from:"Billing & Co"`, []string{"invoice"}},
		{"from:shop.example", []string{"invoice", "welcome"}},
		{"reply-to:support", []string{"invoice"}},
		{"addressed:carol", []string{"invoice"}},
		{"addressed:noreply", []string{"welcome"}},
		{"subject:weekly", []string{"big"}},
		{`subject:"to the shop"`, []string{"welcome"}},
		{"subject:invoice #42", []string{"invoice"}},
		{"message-id:inv42", []string{"invoice"}},
		{"tag:billing", []string{"invoice"}},
		{"tag:weekly", []string{"big"}}, // plus-address tag
		{"is:tagged", []string{"big", "invoice"}},
		{"is:read", []string{"welcome"}},
		{"is:unread", []string{"big", "reset", "invoice"}},
		{"has:attachment", []string{"invoice"}},
		{"-has:attachment is:unread", []string{"big", "reset"}},
		{"after:2024-03-04", []string{"big", "reset", "invoice"}},
		{"before:2024-03-04", []string{"welcome"}},
		{"after:2024-03-02 before:2024-04-01T12:00:00Z", []string{"reset", "invoice"}},
		{"larger:10k", []string{"big"}},
		{"smaller:10k", []string{"reset", "invoice", "welcome"}},
		{"body:figures", []string{"big"}},
		{"numbers", []string{"big"}},
		{"to:example.org -numbers", []string{"reset", "invoice", "welcome"}},
		{"shop is:unread", []string{"invoice"}},
		{"sent-after:2000-01-01", []string{}},
		{"body:weekly", nil},
		{"@", []string{}},
		{"zzzznothing", nil},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			q, err := store.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Search(ctx, store.Filter{Query: q}, store.Page{Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range res.Messages {
				for name, id := range ids {
					if id == m.ID {
						got = append(got, name)
					}
				}
			}
			if !slices.Equal(got, c.want) || res.Total != len(c.want) {
				t.Errorf("got %v (total %d), want %v", got, res.Total, c.want)
			}
		})
	}
}

func TestSearchRecipientMailboxAndPaging(t *testing.T) {
	ctx := context.Background()
	s, ids := mailbox(t)
	res, err := s.Search(ctx, store.Filter{Recipient: "ALICE@example.org"}, store.Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 2 || res.Unread != 2 || len(res.Messages) != 1 || res.Messages[0].ID != ids["reset"] {
		t.Fatalf("alice page 1: %+v", res)
	}
	res, _ = s.Search(ctx, store.Filter{Recipient: "alice@example.org"}, store.Page{Offset: 1, Limit: 1})
	if len(res.Messages) != 1 || res.Messages[0].ID != ids["invoice"] {
		t.Fatalf("alice page 2: %+v", res.Messages)
	}
	entries, err := s.Index(ctx, store.Filter{Recipient: "audit@example.org"})
	if err != nil || len(entries) != 1 || entries[0].ID != ids["invoice"] {
		t.Fatalf("index for an envelope-only recipient: %+v %v", entries, err)
	}
	all, _ := s.Index(ctx, store.Filter{})
	if len(all) != 4 || all[0].ID != ids["welcome"] || !all[0].Read || all[3].UID <= all[0].UID {
		t.Fatalf("index is oldest first: %+v", all)
	}
	res, _ = s.Search(ctx, store.Filter{SinceUID: all[2].UID}, store.Page{})
	if res.Total != 1 || res.Messages[0].ID != ids["big"] {
		t.Fatalf("since UID: %+v", res.Messages)
	}
}

// TestSearchUnreadMatches checks the unread count of a plain word's matches whether every
// message is unread, some are, or none is (the count takes a different path in each).
func TestSearchUnreadMatches(t *testing.T) {
	ctx := context.Background()
	s, ids := mailbox(t) // "welcome" is read
	count := func(word string) (int, int) {
		t.Helper()
		q, _ := store.ParseQuery(word)
		res, err := s.Search(ctx, store.Filter{Query: q}, store.Page{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		return res.Total, res.Unread
	}
	if n, u := count("shop"); n != 2 || u != 1 {
		t.Fatalf("some read: %d matches, %d unread; want 2, 1", n, u)
	}
	if err := s.SetRead(ctx, []string{ids["welcome"]}, false); err != nil {
		t.Fatal(err)
	}
	if n, u := count("shop"); n != 2 || u != 2 {
		t.Fatalf("all unread: %d matches, %d unread; want 2, 2", n, u)
	}
	// Most read: the unread ones are counted rather than the read ones.
	q, _ := store.ParseQuery("-reset")
	if err := s.SetReadMatching(ctx, store.Filter{Query: q}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRead(ctx, []string{ids["welcome"]}, false); err != nil {
		t.Fatal(err)
	}
	if n, u := count("shop"); n != 2 || u != 1 {
		t.Fatalf("most read: %d matches, %d unread; want 2, 1", n, u)
	}
	if err := s.SetReadMatching(ctx, store.Filter{}, true); err != nil {
		t.Fatal(err)
	}
	if n, u := count("shop"); n != 2 || u != 0 {
		t.Fatalf("all read: %d matches, %d unread; want 2, 0", n, u)
	}
	if n, u := count("zzzznothing"); n != 0 || u != 0 {
		t.Fatalf("no match: %d, %d", n, u)
	}
}

func TestSearchMutations(t *testing.T) {
	ctx := context.Background()
	s, _ := mailbox(t)
	q, _ := store.ParseQuery("to:alice@example.org")
	if err := s.SetReadMatching(ctx, store.Filter{Query: q}, true); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats(ctx)
	if st.Unread != 1 {
		t.Fatalf("unread after marking alice's mail read: %d", st.Unread)
	}
	n, err := s.DeleteMatching(ctx, store.Filter{Query: q})
	if err != nil || n != 2 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	st, _ = s.Stats(ctx)
	if st.Total != 2 || st.Unread != 1 {
		t.Fatalf("stats %+v", st)
	}
	res, _ := s.Search(ctx, store.Filter{Query: q}, store.Page{})
	if res.Total != 0 {
		t.Fatalf("deleted messages still found: %+v", res.Messages)
	}
}

func TestParseQueryErrors(t *testing.T) {
	for _, q := range []string{"is:maybe", "has:wings", "after:yesterdayish", "larger:big", "header:"} {
		if _, err := store.ParseQuery(q); err == nil {
			t.Errorf("%q: want an error", q)
		}
	}
	q, err := store.ParseQuery(`from:"Alice A" -subject:"x y" !tag:t plain unknown:field`)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Term{{Field: "from", Value: "Alice A"}, {Field: "subject", Value: "x y", Negate: true},
		{Field: "tag", Value: "t", Negate: true}, {Value: "plain"}, {Value: "unknown:field"}}
	if !slices.Equal(q.Terms, want) {
		t.Fatalf("got %+v", q.Terms)
	}
}

// TestSearchHTMLWords: the words of an HTML body are found whether or not a text part stands
// beside it; what a style or script element holds is not mail text and is not indexed.
func TestSearchHTMLWords(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, store.Options{})
	msg := func(subject, text, html string) []byte {
		return []byte("From: a@example.com\r\nTo: b@example.com\r\nSubject: " + subject + "\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/alternative; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n" +
			"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n--b--\r\n")
	}
	html := "<html><head><style>.bluebanner { color: blue }</style></head><body><p>Your <b>parcel</b> ships " +
		"today, caf&eacute; voucher inside.</p><p>Track it here.</p><script>trackingpixel()</script></body></html>"
	stub := add(t, s, store.Envelope{}, msg("stub", "View this mail in your browser.", html)).ID
	alt := add(t, s, store.Envelope{}, msg("alternative", "YOUR PARCEL SHIPS TODAY -- cafe voucher inside!\n\nTrack it here: https://t.example/1", html)).ID
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"parcel", []string{alt, stub}},
		{"voucher", []string{alt, stub}},
		{"café", []string{alt, stub}},
		{`"ships today"`, []string{alt, stub}},
		{"bluebanner", nil},
		{"trackingpixel", nil},
	} {
		q, _ := store.ParseQuery(c.query)
		res, err := s.Search(ctx, store.Filter{Query: q}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range res.Messages {
			got = append(got, m.ID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.query, got, c.want)
		}
	}
}
