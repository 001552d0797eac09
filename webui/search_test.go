package webui

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// TestSearchFilters runs every filter of the search syntax through /api/v1/search against a
// prepared mailbox.
func TestSearchFilters(t *testing.T) {
	e := newEnv(t, Options{})
	big := strings.Repeat("lorem ipsum dolor sit amet ", 800) // ~21 KB
	day := func(d string) time.Time { tm, _ := time.Parse("2006-01-02", d); return tm.Add(12 * time.Hour) }
	e.add(msg{subject: "Password reset", text: "Your reset token is 12345", from: "Security <security@shop.example>",
		to: []string{"Bob <bob@example.org>"}, extra: "X-Campaign: spring\r\n", env: store.Envelope{Received: day("2024-01-10")}})
	e.add(msg{subject: "Welcome aboard", text: "Hello and welcome", html: "<p>Glad you <b>joined</b></p>",
		from: "Team <team@shop.example>", to: []string{"carol@example.net"}, cc: []string{"dave@example.com"},
		extra: "Reply-To: support@shop.example\r\n", env: store.Envelope{Received: day("2024-02-10")}})
	e.add(msg{subject: "Monthly report", text: big, from: "reports@corp.example", to: []string{"bob@example.org"},
		env: store.Envelope{Received: day("2024-03-10"), Recipients: []string{"bob@example.org", "secret@example.org"}}})
	att := e.addRaw(store.Envelope{Received: day("2024-04-10")}, attachmentMsg) // "With files": attachment + inline, X-Campaign: spring
	// State: read one, tag one.
	if err := e.st.SetRead(t.Context(), []string{att.ID}, true); err != nil {
		t.Fatal(err)
	}
	rep, _ := e.st.Search(t.Context(), store.Filter{Query: store.Query{Terms: []store.Term{{Field: "subject", Value: "report"}}}}, store.Page{})
	if err := e.st.SetTags(t.Context(), []string{rep.Messages[0].ID}, []string{"Finance"}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		q    string
		want []string // subjects, newest first
	}{
		{"", []string{"With files", "Monthly report", "Welcome aboard", "Password reset"}},
		{"reset", []string{"Password reset"}},
		{"RESET", []string{"Password reset"}},
		{"token", []string{"Password reset"}},         // text body
		{"joined", []string{"Welcome aboard"}},        // HTML body
		{`"reset token"`, []string{"Password reset"}}, // phrase
		{`"token reset"`, nil},                        // phrase in the wrong order
		{"-reset", []string{"With files", "Monthly report", "Welcome aboard"}},
		{"!reset", []string{"With files", "Monthly report", "Welcome aboard"}},
		{"report.pdf", []string{"With files"}}, // attachment name
		{"to:bob@example.org", []string{"With files", "Monthly report", "Password reset"}},
		{"to:carol", []string{"Welcome aboard"}},
		{"from:shop.example", []string{"Welcome aboard", "Password reset"}},
		{"from:security@shop.example", []string{"Password reset"}},
		{"cc:dave", []string{"Welcome aboard"}},
		{"bcc:secret@example.org", []string{"Monthly report"}},
		{"reply-to:support", []string{"Welcome aboard"}},
		{"reply-to:replies@example.com", []string{"With files"}},
		{"addressed:dave@example.com", []string{"Welcome aboard"}},
		{"addressed:reports@corp.example", []string{"Monthly report"}},
		{"subject:welcome", []string{"Welcome aboard"}},
		{`subject:"monthly report"`, []string{"Monthly report"}},
		{"message-id:files@example.com", []string{"With files"}},
		{"tag:finance", []string{"Monthly report"}},
		{"is:read", []string{"With files"}},
		{"is:unread", []string{"Monthly report", "Welcome aboard", "Password reset"}},
		{"is:tagged", []string{"Monthly report"}},
		{"has:attachment", []string{"With files"}},
		{"has:inline", []string{"With files"}},
		{"after:2024-02-01", []string{"With files", "Monthly report", "Welcome aboard"}},
		{"before:2024-02-01", []string{"Password reset"}},
		{"after:2024-02-01 before:2024-04-01", []string{"Monthly report", "Welcome aboard"}},
		{"larger:10k", []string{"Monthly report"}},
		{"smaller:10k", []string{"With files", "Welcome aboard", "Password reset"}},
		{"header:X-Campaign:spring", []string{"With files", "Password reset"}}, // custom header values
		{"spring", []string{"With files", "Password reset"}},
		{"from:shop.example -subject:welcome", []string{"Password reset"}},
		{"nothing-matches-this", nil},
	} {
		v := e.getJSON("/api/v1/search?query=" + url.QueryEscape(tc.q))
		var got []string
		for _, m := range field(v, "messages").([]any) {
			got = append(got, field(m, "Subject").(string))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("search %q: got %q, want %q", tc.q, got, tc.want)
		}
		if num(field(v, "messages_count")) != len(tc.want) || num(field(v, "total")) != 4 {
			t.Errorf("search %q: messages_count %v total %v", tc.q, field(v, "messages_count"), field(v, "total"))
		}
	}
	for _, bad := range []string{"is:bogus", "has:nothing", "after:yesterday-ish", "larger:huge", "header::x"} {
		res, body := e.do("GET", "/api/v1/search?query="+url.QueryEscape(bad), "")
		if res.StatusCode != 400 || !strings.HasPrefix(string(body), "webui: search:") {
			t.Errorf("bad query %q: %d %s", bad, res.StatusCode, body)
		}
	}
}
