package imapd_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/store"
)

// TestDialogue speaks IMAP on the wire, to check the exact responses: flag case, response codes,
// LSUB, EXAMINE's read-only refusals, UID EXPUNGE, SEARCH with CHARSET.
func TestDialogue(t *testing.T) {
	st := openStore(t)
	for _, s := range []string{"alpha", "beta", "gamma"} {
		add(t, st, store.Envelope{Received: time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)}, message("a@x.test", "b@y.test", s, "body of "+s))
	}
	_, addr := startServer(t, imapd.Options{Store: st}) // no TLSConfig: no STARTTLS
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(nc)
	greeting, _ := r.ReadString('\n')
	if !strings.HasPrefix(greeting, "* OK ") {
		t.Fatalf("greeting %q", greeting)
	}

	steps := []struct {
		cmd     string
		tagged  string   // regexp the tagged response must match
		present []string // regexps some untagged line must match
		absent  []string // regexps no line may match
	}{
		{`CAPABILITY`, `^OK`, []string{`^\* CAPABILITY .*IMAP4rev1.*AUTH=PLAIN`}, []string{`STARTTLS`}},
		{`STARTTLS`, `^NO`, nil, nil},
		{`LOGIN "developer" "any password"`, `^OK`, nil, nil},
		{`LSUB "" "*"`, `^OK`, []string{`^\* LSUB \(.*\) "/" INBOX$`}, nil},
		{`LIST "" "*"`, `^OK`, []string{`^\* LIST \(\\HasNoChildren\) "/" INBOX$`}, nil},
		{`STATUS INBOX (MESSAGES UNSEEN UIDVALIDITY)`, `^OK`, []string{fmt.Sprintf(`^\* STATUS INBOX \(MESSAGES 3 UIDVALIDITY %d UNSEEN 3\)$`, st.UIDValidity())}, nil},
		{`EXAMINE INBOX`, `^OK \[READ-ONLY\]`, []string{`^\* 3 EXISTS$`, `^\* FLAGS \(\\Seen \\Deleted\)$`, `^\* OK \[UIDVALIDITY \d+\]`, `^\* OK \[UIDNEXT 4\]`}, nil},
		{`STORE 1 +FLAGS (\Seen)`, `^NO \[READ-ONLY\]`, nil, nil},
		{`UID EXPUNGE 1:*`, `^NO \[READ-ONLY\]`, nil, nil},
		{`FETCH 1 (FLAGS BODY[TEXT])`, `^OK`, []string{`^\* 1 FETCH \(UID 1 FLAGS \(\) BODY\[TEXT\] \{\d+\}$`}, []string{`Seen`}},
		{`SELECT INBOX`, `^OK \[READ-WRITE\]`, []string{`^\* OK \[PERMANENTFLAGS \(\\Seen \\Deleted\)\]`, `^\* OK \[UNSEEN 1\]`}, nil},
		{`FETCH 2 (BODY[HEADER.FIELDS (SUBJECT)])`, `^OK`, []string{`^\* 2 FETCH \(UID 2 FLAGS \(\\Seen\) BODY\[HEADER\.FIELDS \("?SUBJECT"?\)\] \{\d+\}$`}, nil},
		{`FETCH 3 (BODY.PEEK[]<0.5>)`, `^OK`, []string{`^\* 3 FETCH \(UID 3 BODY\[\]<0> \{5\}$`}, nil},
		{`STORE 1:3 +FLAGS.SILENT (\deleted)`, `^OK`, nil, []string{`FETCH`}},
		{`FETCH 1:3 FLAGS`, `^OK`, []string{`^\* 1 FETCH \(UID 1 FLAGS \(\\Deleted\)\)$`, `^\* 3 FETCH \(UID 3 FLAGS \(\\Deleted\)\)$`}, nil},
		{`SEARCH CHARSET UTF-8 DELETED SUBJECT beta`, `^OK`, []string{`^\* SEARCH 2$`}, nil},
		{`SEARCH SINCE 6-May-2024 BEFORE 7-May-2024 NOT SEEN`, `^OK`, []string{`^\* SEARCH 1 3$`}, nil},
		{`SEARCH ON 7-May-2024`, `^OK`, []string{`^\* SEARCH$`}, nil},
		{`UID EXPUNGE 2`, `^OK`, []string{`^\* 2 EXPUNGE$`}, nil},

		{`STORE 2 -FLAGS (\Deleted)`, `^OK`, []string{`^\* 2 FETCH \(UID 3 FLAGS \(\)\)$`}, nil},
		{`UID EXPUNGE 2:*`, `^OK`, nil, []string{`EXPUNGE`}}, // UID 1 is \Deleted but not in 2:3
		{`CLOSE`, `^OK`, nil, []string{`EXPUNGE`}},
		{`SELECT INBOX`, `^OK`, []string{`^\* 1 EXISTS$`}, nil},
		{`COPY 1 INBOX`, `^NO`, nil, nil},
		{`COPY 1 Archive`, `^NO \[TRYCREATE\]`, nil, nil},
		{`MOVE 1 Archive`, `^NO \[TRYCREATE\]`, nil, nil},
		{"APPEND INBOX {5+}\r\nhello", `^NO \[CANNOT\]`, nil, nil},
		{`CREATE Archive`, `^NO \[CANNOT\]`, nil, nil},
		{`DELETE INBOX`, `^NO \[CANNOT\]`, nil, nil},
		{`RENAME INBOX Old`, `^NO \[CANNOT\]`, nil, nil},
		{`SUBSCRIBE INBOX`, `^OK`, nil, nil},
		{`UNSUBSCRIBE INBOX`, `^OK`, nil, nil},
		{`SUBSCRIBE Archive`, `^NO \[NONEXISTENT\]`, nil, nil},
		{`SELECT Trash`, `^NO \[NONEXISTENT\]`, nil, nil},
		{`LOGOUT`, `^OK`, []string{`^\* BYE`}, nil},
	}
	for i, s := range steps {
		tag := fmt.Sprintf("t%d", i)
		if _, err := fmt.Fprintf(nc, "%s %s\r\n", tag, s.cmd); err != nil {
			t.Fatal(err)
		}
		var lines []string
		var tagged string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v after %q", s.cmd, err, lines)
			}
			line = strings.TrimRight(line, "\r\n")
			// Skip literal contents: a line ending in {n} is followed by n bytes.
			if m := regexp.MustCompile(`\{(\d+)\}$`).FindStringSubmatch(line); m != nil {
				var n int
				fmt.Sscan(m[1], &n)
				buf := make([]byte, n)
				if _, err := ioReadFull(r, buf); err != nil {
					t.Fatal(err)
				}
			}
			if strings.HasPrefix(line, tag+" ") {
				tagged = strings.TrimPrefix(line, tag+" ")
				break
			}
			lines = append(lines, line)
		}
		if !regexp.MustCompile(s.tagged).MatchString(tagged) {
			t.Errorf("%s: tagged response %q, want %s", s.cmd, tagged, s.tagged)
		}
		for _, p := range s.present {
			re := regexp.MustCompile(p)
			found := false
			for _, l := range lines {
				found = found || re.MatchString(l)
			}
			if !found {
				t.Errorf("%s: no line matches %s in %q", s.cmd, p, lines)
			}
		}
		for _, p := range s.absent {
			re := regexp.MustCompile(p)
			for _, l := range lines {
				if re.MatchString(l) {
					t.Errorf("%s: line %q matches %s", s.cmd, l, p)
				}
			}
		}
	}
	if sum, err := st.Search(context.Background(), store.Filter{}, store.Page{}); err != nil || sum.Total != 1 {
		t.Errorf("the store has %d messages after UID EXPUNGE 2 and CLOSE, want 1 (UID 3) (%v)", sum.Total, err)
	}
}
