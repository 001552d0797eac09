package imapd_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/store"
)

func TestSearch(t *testing.T) {
	st := openStore(t)
	day := func(d, h int) time.Time { return time.Date(2024, 3, d, h, 0, 0, 0, time.UTC) }
	raw := func(from, to, cc, subject, extra, body string) []byte {
		h := fmt.Sprintf("From: %s\r\nTo: %s\r\n", from, to)
		if cc != "" {
			h += "Cc: " + cc + "\r\n"
		}
		return []byte(h + "Subject: " + subject + "\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n" + extra + "\r\n" + body + "\r\n")
	}
	m1 := add(t, st, store.Envelope{Received: day(1, 10)}, raw("alice@x.test", "bob@y.test", "", "Spring sale", "X-Campaign: spring\r\n", "big discounts"))
	m2 := add(t, st, store.Envelope{Received: day(2, 10)}, raw("carol@z.test", "dave@y.test", "bob@y.test", "Invoice 42", "", "please pay\r\n"+strings.Repeat("padding line\r\n", 500)))
	m3 := add(t, st, store.Envelope{Received: day(3, 10), Recipients: []string{"erin@y.test", "frank@y.test"}}, raw("alice@x.test", "erin@y.test", "", "Lunch", "", "spring rolls"))
	m4 := add(t, st, store.Envelope{Received: day(3, 23)}, raw("bob@y.test", "alice@x.test", "", "Re: Spring sale", "", "thanks"))
	if err := st.SetRead(context.Background(), []string{m3.ID}, true); err != nil {
		t.Fatal(err)
	}
	u := func(sums ...store.Summary) []imap.UID {
		out := []imap.UID{}
		for _, s := range sums {
			out = append(out, imap.UID(s.UID))
		}
		return out
	}
	_, addr := startServer(t, imapd.Options{Store: st})
	c := dial(t, addr, "me", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.UIDSetNum(imap.UID(m4.UID)), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	date := func(d int) time.Time { return time.Date(2024, 3, d, 0, 0, 0, 0, time.UTC) }
	hdr := func(k, v string) []imap.SearchCriteriaHeaderField {
		return []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}
	}
	all := u(m1, m2, m3, m4)

	cases := []struct {
		name string
		c    imap.SearchCriteria
		want []imap.UID
	}{
		{"ALL", imap.SearchCriteria{}, all},
		{"FROM alice", imap.SearchCriteria{Header: hdr("From", "alice")}, u(m1, m3)},
		{"TO bob", imap.SearchCriteria{Header: hdr("To", "bob@y.test")}, u(m1)},
		{"CC bob", imap.SearchCriteria{Header: hdr("Cc", "bob")}, u(m2)},
		{"BCC frank", imap.SearchCriteria{Header: hdr("Bcc", "frank@y.test")}, u(m3)},
		{"SUBJECT spring", imap.SearchCriteria{Header: hdr("Subject", "spring")}, u(m1, m4)},
		{"BODY spring", imap.SearchCriteria{Body: []string{"spring"}}, u(m3)},
		{"SUBJECT nvoic", imap.SearchCriteria{Header: hdr("Subject", "nvoic")}, u(m2)}, // substrings (RFC 3501 6.4.4)
		{"FROM lice@x", imap.SearchCriteria{Header: hdr("From", "lice@x")}, u(m1, m3)},
		{"TEXT iscount", imap.SearchCriteria{Text: []string{"iscount"}}, u(m1)},
		{"TEXT spring", imap.SearchCriteria{Text: []string{"spring"}}, u(m1, m3, m4)},
		{"HEADER X-Campaign spring", imap.SearchCriteria{Header: hdr("X-Campaign", "spring")}, u(m1)},
		{"SEEN", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, u(m3)},
		{"UNSEEN", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, u(m1, m2, m4)},
		{"FROM alice SEEN", imap.SearchCriteria{Header: hdr("From", "alice"), Flag: []imap.Flag{imap.FlagSeen}}, u(m3)},
		{"FROM alice UNSEEN", imap.SearchCriteria{Header: hdr("From", "alice"), NotFlag: []imap.Flag{imap.FlagSeen}}, u(m1)},
		{"SEEN UNSEEN", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}, NotFlag: []imap.Flag{imap.FlagSeen}}, u()},
		{"NOT SEEN", imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}}}}, u(m1, m2, m4)},
		{"DELETED", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, u(m4)},
		{"UNDELETED", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, u(m1, m2, m3)},
		{"FLAGGED", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, u()},
		{"UNFLAGGED", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagFlagged}}, all},
		{"SINCE 2-Mar-2024", imap.SearchCriteria{Since: date(2)}, u(m2, m3, m4)},
		{"BEFORE 2-Mar-2024", imap.SearchCriteria{Before: date(2)}, u(m1)},
		{"ON 3-Mar-2024", imap.SearchCriteria{Since: date(3), Before: date(4)}, u(m3, m4)},
		{"LARGER 5000", imap.SearchCriteria{Larger: 5000}, u(m2)},
		{"SMALLER 5000", imap.SearchCriteria{Smaller: 5000}, u(m1, m3, m4)},
		{"SENTSINCE 1-Jan-2006", imap.SearchCriteria{SentSince: time.Date(2006, 1, 1, 0, 0, 0, 0, time.UTC)}, all},
		{"SENTBEFORE 1-Jan-2006", imap.SearchCriteria{SentBefore: time.Date(2006, 1, 1, 0, 0, 0, 0, time.UTC)}, u()},
		{"SENTSINCE 2-Jan-2006", imap.SearchCriteria{SentSince: time.Date(2006, 1, 2, 0, 0, 0, 0, time.UTC)}, all},
		{"SENTSINCE 3-Jan-2006", imap.SearchCriteria{SentSince: time.Date(2006, 1, 3, 0, 0, 0, 0, time.UTC)}, u()},
		{"SENTBEFORE 3-Jan-2006", imap.SearchCriteria{SentBefore: time.Date(2006, 1, 3, 0, 0, 0, 0, time.UTC)}, all},
		{"SENTON 2-Jan-2006", imap.SearchCriteria{SentSince: time.Date(2006, 1, 2, 0, 0, 0, 0, time.UTC), SentBefore: time.Date(2006, 1, 3, 0, 0, 0, 0, time.UTC)}, all},
		{"NOT FROM alice", imap.SearchCriteria{Not: []imap.SearchCriteria{{Header: hdr("From", "alice")}}}, u(m2, m4)},
		{"NOT (FROM alice SUBJECT lunch)", imap.SearchCriteria{Not: []imap.SearchCriteria{{Header: append(hdr("From", "alice"), hdr("Subject", "lunch")...)}}}, u(m1, m2, m4)},
		{"NOT DELETED", imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagDeleted}}}}, u(m1, m2, m3)},
		{"OR FROM carol FROM bob", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Header: hdr("From", "carol")}, {Header: hdr("From", "bob")}}}}, u(m2, m4)},
		{"FROM alice OR SUBJECT lunch SUBJECT invoice", imap.SearchCriteria{Header: hdr("From", "alice"),
			Or: [][2]imap.SearchCriteria{{{Header: hdr("Subject", "lunch")}, {Header: hdr("Subject", "invoice")}}}}, u(m3)},
		{"OR SEEN NOT SINCE 2-Mar-2024", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagSeen}}, {Not: []imap.SearchCriteria{{Since: date(2)}}}}}}, u(m1, m3)},
		{"UID m2:m3", imap.SearchCriteria{UID: []imap.UIDSet{{{Start: imap.UID(m2.UID), Stop: imap.UID(m3.UID)}}}}, u(m2, m3)},
		{"UID m3:*", imap.SearchCriteria{UID: []imap.UIDSet{{{Start: imap.UID(m3.UID), Stop: 0}}}}, u(m3, m4)},
		{"1,3", imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(1, 3)}}, u(m1, m3)},
		{"2:* UNSEEN", imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 2, Stop: 0}}}, NotFlag: []imap.Flag{imap.FlagSeen}}, u(m2, m4)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			crit := tc.c
			res, err := c.UIDSearch(&crit, nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if got := res.AllUIDs(); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("UID SEARCH %s = %v, want %v", tc.name, got, tc.want)
			}
		})
	}

	// SEARCH answers sequence numbers; ESEARCH options.
	res, err := c.Search(&imap.SearchCriteria{Header: hdr("From", "alice")}, nil).Wait()
	if err != nil || !slices.Equal(res.AllSeqNums(), []uint32{1, 3}) {
		t.Errorf("SEARCH FROM alice = %v, %v; want [1 3]", res.AllSeqNums(), err)
	}
	res, err = c.UIDSearch(&imap.SearchCriteria{}, &imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true}).Wait()
	if err != nil || res.Count != 4 || res.Min != uint32(m1.UID) || res.Max != uint32(m4.UID) {
		t.Errorf("UID SEARCH RETURN (MIN MAX COUNT) ALL = %+v, %v", res, err)
	}
}
