package storetest

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// mailbox stores the messages every search case is checked against, and returns their IDs by name.
func mailbox(s suite, e store.Engine) map[string]string {
	s.Helper()
	ctx := context.Background()
	ids := map[string]string{}
	put := func(name string, env store.Envelope, raw string) {
		ids[name] = add(s, e, env, strings.ReplaceAll(raw, "\n", "\r\n")).ID
	}
	put("welcome", store.Envelope{MailFrom: "noreply@shop.example", Recipients: []string{"bob@example.org"}, Received: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)},
		"From: Shop <noreply@shop.example>\nTo: Bob Smith <bob@example.org>\nSubject: Welcome to the Shop\nMessage-ID: <w1@shop.example>\nX-Campaign: spring-sale\n\nHello Bob, your springtime discount code is SAVE10.\n")
	put("invoice", store.Envelope{MailFrom: "billing@shop.example", Recipients: []string{"alice@example.org", "audit@example.org"}, Received: time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)},
		"From: Billing & Co <billing@shop.example>\nTo: alice@example.org\nCc: Carol <carol@example.net>\nReply-To: support@shop.example\nSubject: Invoice #42\nMessage-ID: <inv42@shop.example>\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nYour invoice is attached.\n--b\nContent-Type: application/pdf; name=invoice-42.pdf\nContent-Disposition: attachment; filename=invoice-42.pdf\n\n%PDF-1.4 fake\n--b--\n")
	put("reset", store.Envelope{MailFrom: "auth@app.example", Recipients: []string{"alice@example.org"}, Received: time.Date(2024, 4, 1, 10, 0, 0, 0, time.UTC)},
		"From: auth@app.example\nTo: alice@example.org\nSubject: Reset your password\nDate: Mon, 01 Apr 2024 09:00:00 +0000\nContent-Type: text/html\n\n<p>Click <a href=\"https://app.example/reset?t=xyz\">here</a> to reset. Über-secure.</p>\n")
	put("big", store.Envelope{MailFrom: "reports@app.example", Recipients: []string{"team+weekly@example.org"}, Received: time.Date(2024, 4, 2, 10, 0, 0, 0, time.UTC)},
		"From: reports@app.example\nTo: team+weekly@example.org\nSubject: Weekly report\nContent-Type: multipart/related; boundary=r\n\n--r\nContent-Type: text/plain\n\n"+
			strings.Repeat("numbers and figures ", 1000)+"\n--r\nContent-Type: image/png\nContent-ID: <chart@app>\nContent-Disposition: inline\n\nPNG\n--r--\n")
	if err := e.SetRead(ctx, []string{ids["welcome"]}, true); err != nil {
		s.Fatal(err)
	}
	if err := e.SetTags(ctx, []string{ids["invoice"]}, []string{"Billing"}); err != nil {
		s.Fatal(err)
	}
	return ids
}

// searchCases are every term of README's search table (and the limits it states), with the
// messages of mailbox each must find, newest first.
var searchCases = []struct {
	query string
	want  []string
}{
	{"", []string{"big", "reset", "invoice", "welcome"}},
	// word, "two words": subject, addresses, bodies, attachment names, every header value.
	{"springtime", []string{"welcome"}},
	{"SPRING", []string{"welcome"}},
	{"spring", []string{"welcome"}},
	{"ringtim", []string{"welcome"}}, // inside a word
	{"PRINGTIM", []string{"welcome"}},
	{"spring-sale", []string{"welcome"}},
	{`"discount code"`, []string{"welcome"}},
	{`"code discount"`, nil},
	{"invoice", []string{"invoice"}},
	{"invoice-42.pdf", []string{"invoice"}},
	{"nvoice", []string{"invoice"}},
	{"uber", []string{"reset"}}, // accents ignored
	{"über", []string{"reset"}},
	{"ber-secure", []string{"reset"}},
	{"hop.exam", []string{"invoice", "welcome"}},
	{"xample.org alic", []string{"reset", "invoice"}},
	{"numbers", []string{"big"}},
	{"save10", []string{"welcome"}}, // a word with digits, from its start
	{"ave10", nil},                  // and only from its start
	{"zzzznothing", nil},
	{"@", []string{}},
	// negation
	{"reset -password", nil},
	{"reset !password", nil},
	{"-reset", []string{"big", "invoice", "welcome"}},
	{"-ringtime", []string{"big", "reset", "invoice"}},
	// address fields
	{"to:alice@example.org", []string{"reset", "invoice"}},
	{"to:example.org", []string{"big", "reset", "invoice", "welcome"}},
	{"to:ample.com", nil},
	{"to:ample.org", []string{"big", "reset", "invoice", "welcome"}},
	{"to:bob", []string{"welcome"}},
	{"to:alice@example.or", []string{"reset", "invoice"}},
	{"to:lice@example.org", []string{"reset", "invoice"}},
	{"to:bob@example.org.uk", nil},
	{`to:"Bob Smith"`, []string{"welcome"}},
	{"cc:carol", []string{"invoice"}},
	{"bcc:audit@example.org", []string{"invoice"}}, // envelope-only recipient
	{"from:billing", []string{"invoice"}},
	{"from:illing", []string{"invoice"}},
	{`from:"Billing & Co"`, []string{"invoice"}},
	{"from:shop.example", []string{"invoice", "welcome"}},
	{"reply-to:support", []string{"invoice"}},
	{"addressed:carol", []string{"invoice"}},
	{"addressed:noreply", []string{"welcome"}},
	// subject:, message-id:, body:
	{"subject:weekly", []string{"big"}},
	{"subject:elcome", []string{"welcome"}},
	{`subject:"to the shop"`, []string{"welcome"}},
	{"subject:invoice #42", []string{"invoice"}},
	{"message-id:inv42", []string{"invoice"}},
	{"body:figures", []string{"big"}},
	{"body:igure", []string{"big"}},
	{"body:weekly", nil},
	// header:
	{"header:X-Campaign:spring", []string{"welcome"}},
	{"header:X-Campaign:pring", []string{"welcome"}},
	{"header:X-Campaign:ring", []string{"welcome"}},
	{"header:X-Campaign:", []string{"welcome"}},
	{"header:X-Campaign:ring-sa", []string{"welcome"}},
	{"header:X-Campaign:sale", nil},
	// tag:, is:, has:
	{"tag:billing", []string{"invoice"}},
	{"tag:weekly", []string{"big"}}, // plus-address tag
	{"is:tagged", []string{"big", "invoice"}},
	{"is:read", []string{"welcome"}},
	{"is:unread", []string{"big", "reset", "invoice"}},
	{"has:attachment", []string{"invoice"}},
	{"has:inline", []string{"big"}},
	{"-has:attachment is:unread", []string{"big", "reset"}},
	// after:, before:, larger:, smaller:
	{"after:2024-03-04", []string{"big", "reset", "invoice"}},
	{"before:2024-03-04", []string{"welcome"}},
	{"after:2024-03-02 before:2024-04-01T12:00:00Z", []string{"reset", "invoice"}},
	{"sent-after:2024-03-31", []string{"reset"}},
	{"sent-before:2024-04-02", []string{"reset"}},
	{"larger:10k", []string{"big"}},
	{"smaller:10k", []string{"reset", "invoice", "welcome"}},
	// combinations
	{"to:example.org -numbers", []string{"reset", "invoice", "welcome"}},
	{"shop is:unread", []string{"invoice"}},
	{`to:alice@example.org subject:"reset your password" is:unread -has:attachment`, []string{"reset"}},
}

func testSearch(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{})
	ids := mailbox(s, e)
	names := map[string]string{}
	for name, id := range ids {
		names[id] = name
	}
	for _, c := range searchCases {
		q, err := store.ParseQuery(c.query)
		if err != nil {
			s.Fatalf("%q: %v", c.query, err)
		}
		res, err := e.Search(ctx, store.Filter{Query: q}, store.Page{Limit: 50})
		if err != nil {
			s.Errorf("%q: %v", c.query, err)
			continue
		}
		var got []string
		for _, m := range res.Messages {
			got = append(got, names[m.ID])
		}
		if !slices.Equal(got, c.want) || res.Total != len(c.want) {
			s.Errorf("%q: got %v (total %d), want %v", c.query, got, res.Total, c.want)
		}
		unread := 0
		for _, m := range res.Messages {
			if !m.Read {
				unread++
			}
		}
		if res.Unread != unread {
			s.Errorf("%q: unread %d, want %d", c.query, res.Unread, unread)
		}
	}
	// MailHog's kinds: the envelope sender and recipients count.
	for _, c := range []struct {
		field, value string
		want         []string
	}{
		{store.EnvelopeFrom, "auth@app.example", []string{"reset"}},
		{store.EnvelopeTo, "audit@example.org", []string{"invoice"}},
	} {
		res, err := e.Search(ctx, store.Filter{Query: store.Query{Terms: []store.Term{{Field: c.field, Value: c.value}}}}, store.Page{})
		if err != nil || res.Total != len(c.want) || names[res.Messages[0].ID] != c.want[0] {
			s.Errorf("%s:%s: %+v %v", c.field, c.value, res, err)
		}
	}
}

func testPaging(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{})
	ids := mailbox(s, e)
	res, err := e.Search(ctx, store.Filter{Recipient: "ALICE@example.org"}, store.Page{Limit: 1})
	if err != nil || res.Total != 2 || res.Unread != 2 || len(res.Messages) != 1 || res.Messages[0].ID != ids["reset"] {
		s.Fatalf("alice page 1: %+v %v", res, err)
	}
	res, _ = e.Search(ctx, store.Filter{Recipient: "alice@example.org"}, store.Page{Offset: 1, Limit: 1})
	if len(res.Messages) != 1 || res.Messages[0].ID != ids["invoice"] {
		s.Fatalf("alice page 2: %+v", res.Messages)
	}
	entries, err := e.Index(ctx, store.Filter{Recipient: "audit@example.org"})
	if err != nil || len(entries) != 1 || entries[0].ID != ids["invoice"] {
		s.Fatalf("index for an envelope-only recipient: %+v %v", entries, err)
	}
	all, _ := e.Index(ctx, store.Filter{})
	if len(all) != 4 || all[0].ID != ids["welcome"] || !all[0].Read || all[3].UID <= all[0].UID {
		s.Fatalf("index is oldest first: %+v", all)
	}
	res, _ = e.Search(ctx, store.Filter{SinceUID: all[2].UID}, store.Page{})
	if res.Total != 1 || res.Messages[0].ID != ids["big"] {
		s.Fatalf("since UID: %+v", res.Messages)
	}
	res, _ = e.Search(ctx, store.Filter{Since: time.Date(2024, 4, 1, 12, 0, 0, 0, time.UTC)}, store.Page{})
	if res.Total != 1 || res.Messages[0].ID != ids["big"] {
		s.Fatalf("since a time: %+v", res.Messages)
	}
}

// testAddressSearch: to:, cc: and bcc: with a whole address find the messages whose list has it
// as a substring (in any case, inside a longer address, in a display name), and not those that
// have it in another list, or have only its words; counts and pages agree whatever the read
// state (each way of counting the unread matches).
func testAddressSearch(s suite) {
	ctx := context.Background()
	e := s.engine(store.Options{})
	ids := map[string]string{}
	names := map[string]string{}
	for _, m := range []struct{ name, rcpt, headers string }{
		{"plain", "customer7@example.com", "To: Customer Seven <customer7@example.com>"},
		{"upper", "customer7@example.com", "To: CUSTOMER7@Example.COM"},
		{"cconly", "someone@example.com", "To: someone@example.com\nCc: customer7@example.com"},
		{"dotted", "a.customer7@example.com", "To: a.customer7@example.com"},
		{"longer", "customer7@example.com.au", "To: customer7@example.com.au"},
		{"prefixed", "xcustomer7@example.com", "To: xcustomer7@example.com"},
		{"named", "other@example.net", `To: "customer7@example.com" <other@example.net>`},
		{"envelope", "customer7@example.com", "To: list@example.org"},
		{"words", "customer8@example.com", "To: customer8@example.com\nCc: customer7@example.org"},
		{"both", "customer7@example.com", "To: customer7@example.com\nCc: customer7@example.com"},
	} {
		raw := "From: shop@shop.example\n" + m.headers + "\nSubject: " + m.name + "\n\nHello.\n"
		id := add(s, e, store.Envelope{MailFrom: "shop@shop.example", Recipients: []string{m.rcpt}}, strings.ReplaceAll(raw, "\n", "\r\n")).ID
		ids[m.name], names[id] = id, m.name
	}
	cases := []struct {
		query string
		want  []string // newest first
	}{
		{"to:customer7@example.com", []string{"both", "named", "longer", "dotted", "upper", "plain"}},
		{"to:CUSTOMER7@EXAMPLE.COM", []string{"both", "named", "longer", "dotted", "upper", "plain"}},
		{"cc:customer7@example.com", []string{"both", "cconly"}},
		{"bcc:customer7@example.com", []string{"envelope"}},
		{"to:customer7@example.org", nil},
		{"cc:customer7@example.org", []string{"words"}},
		{"to:xcustomer7@example.com", []string{"prefixed"}},
		{"to:other@example.net", []string{"named"}},
		{"to:customer7@example.com.au", []string{"longer"}},
		{"to:nobody@example.com", nil},
	}
	check := func(state string) {
		s.Helper()
		for _, c := range cases {
			q, err := store.ParseQuery(c.query)
			if err != nil {
				s.Fatal(err)
			}
			res, err := e.Search(ctx, store.Filter{Query: q}, store.Page{Limit: 50})
			if err != nil {
				s.Fatalf("%s: %q: %v", state, c.query, err)
			}
			var got []string
			unread := 0
			for _, m := range res.Messages {
				got = append(got, names[m.ID])
				if !m.Read {
					unread++
				}
			}
			if !slices.Equal(got, c.want) || res.Total != len(c.want) || res.Unread != unread {
				s.Errorf("%s: %q: got %v (total %d, unread %d; %d on the page), want %v", state, c.query, got, res.Total, res.Unread, unread, c.want)
			}
			if len(c.want) < 3 {
				continue
			}
			page, err := e.Search(ctx, store.Filter{Query: q}, store.Page{Offset: 1, Limit: 2})
			if err != nil || len(page.Messages) != 2 || page.Total != res.Total || page.Unread != res.Unread ||
				names[page.Messages[0].ID] != c.want[1] || names[page.Messages[1].ID] != c.want[2] {
				s.Errorf("%s: %q: second page of two: %+v %v", state, c.query, page, err)
			}
		}
	}
	check("all unread")
	setRead := func(read bool, names ...string) {
		s.Helper()
		var list []string
		for _, n := range names {
			list = append(list, ids[n])
		}
		if err := e.SetRead(ctx, list, read); err != nil {
			s.Fatal(err)
		}
	}
	setRead(true, "plain", "longer")
	check("a few read")
	setRead(true, "upper", "cconly", "dotted", "prefixed", "envelope", "words")
	check("most read")
	setRead(true, "both", "named")
	check("all read")
}
