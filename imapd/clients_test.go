package imapd_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/store"
)

// run runs a command with a deadline and returns its standard output.
func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// corpus stores a few messages of different shapes and returns them oldest first.
func corpus(t *testing.T, st *store.Store) []store.Summary {
	var sums []store.Summary
	sums = append(sums, add(t, st, store.Envelope{MailFrom: "a@x.test", Recipients: []string{"b@y.test"}}, message("Alice <a@x.test>", "b@y.test", "hello curl", "first body")))
	sums = append(sums, add(t, st, store.Envelope{MailFrom: "orders@shop.example", Recipients: []string{"customer@example.org"}}, []byte(multipart)))
	sums = append(sums, add(t, st, store.Envelope{}, message("c@x.test", "d@y.test", "=?utf-8?q?caf=C3=A9_menu?=", "8-bit body: caf\xc3\xa9\r\n.leading dot line\r\n..two dots")))
	big := "From: e@x.test\r\nTo: f@y.test\r\nSubject: big one\r\n\r\n" + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz\r\n", 30000)
	sums = append(sums, add(t, st, store.Envelope{}, []byte(big)))
	return sums
}

func TestCurl(t *testing.T) {
	curl := tool(t, "curl")
	st := openStore(t)
	sums := corpus(t, st)
	_, addr := startServer(t, imapd.Options{Store: st})
	base := "imap://" + addr
	auth := []string{"-sS", "--max-time", "30", "--user", "me:secret"}

	list := string(run(t, curl, append(auth, base+"/")...))
	if !regexp.MustCompile(`(?m)^\* LIST \(.*\) "/" "?INBOX"?\r?$`).MatchString(list) {
		t.Errorf("curl LIST:\n%s", list)
	}

	for i, sum := range sums {
		raw, err := st.Raw(context.Background(), sum.ID)
		if err != nil {
			t.Fatal(err)
		}
		byUID := run(t, curl, append(auth, fmt.Sprintf("%s/INBOX;UID=%d", base, sum.UID))...)
		if !bytes.Equal(byUID, raw) {
			t.Errorf("curl ;UID=%d: %d bytes, want the %d stored bytes", sum.UID, len(byUID), len(raw))
		}
		byIndex := run(t, curl, append(auth, fmt.Sprintf("%s/INBOX;MAILINDEX=%d", base, i+1))...)
		if !bytes.Equal(byIndex, raw) {
			t.Errorf("curl ;MAILINDEX=%d: %d bytes, want the %d stored bytes", i+1, len(byIndex), len(raw))
		}
	}
	// A section: the attachment of the multipart message.
	part := run(t, curl, append(auth, fmt.Sprintf("%s/INBOX;UID=%d;SECTION=2", base, sums[1].UID))...)
	if strings.TrimSpace(string(part)) != "JVBERi0xLjQKJcfsj6IKNSAwIG9iago=" {
		t.Errorf("curl ;SECTION=2 = %q", part)
	}

	search := string(run(t, curl, append(auth, base+"/INBOX?SUBJECT%20invoice")...))
	if !regexp.MustCompile(`(?m)^\* SEARCH 2\r?$`).MatchString(search) {
		t.Errorf("curl SEARCH SUBJECT invoice:\n%s", search)
	}
	search = string(run(t, curl, append(auth, base+"/INBOX?OR%20FROM%20alice%20LARGER%20100000")...))
	if !regexp.MustCompile(`(?m)^\* SEARCH 1 4\r?$`).MatchString(search) {
		t.Errorf("curl SEARCH OR FROM alice LARGER 100000:\n%s", search)
	}
	// curl fetched with BODY[], which marks messages read.
	if sum, _ := st.Summary(context.Background(), sums[0].ID); !sum.Read {
		t.Error("curl's FETCH BODY[] did not mark the message read")
	}
}

func TestMbsync(t *testing.T) {
	mbsync := tool(t, "mbsync")
	st := openStore(t)
	sums := corpus(t, st)
	for i := 0; i < 20; i++ {
		sums = append(sums, add(t, st, store.Envelope{}, message("bulk@x.test", "me@y.test", fmt.Sprintf("bulk %d", i), "bulk body")))
	}
	_, addr := startServer(t, imapd.Options{Store: st})
	host, port, _ := strings.Cut(addr, ":")
	dir := t.TempDir()
	maildir := filepath.Join(dir, "mail")
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`IMAPAccount letterbox
Host %s
Port %s
User developer
Pass secret
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account letterbox

MaildirStore local
Path %s/
Inbox %s/INBOX

Channel pull
Far :remote:
Near :local:
Patterns INBOX
Sync Pull
Create Near
SyncState *
`, host, port, maildir, maildir)
	cfg := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, mbsync, "-c", cfg, "-a")

	var files []string
	for _, sub := range []string{"new", "cur"} {
		matches, _ := filepath.Glob(filepath.Join(maildir, "INBOX", sub, "*"))
		files = append(files, matches...)
	}
	if len(files) != len(sums) {
		t.Fatalf("mbsync pulled %d messages, want %d", len(files), len(sums))
	}
	// Maildir files are named with the IMAP UID (",U=n") once mbsync knows it.
	uidRe := regexp.MustCompile(`,U=(\d+)`)
	tuidRe := regexp.MustCompile(`(?m)^X-TUID: [^\n]*\n`)
	got := map[int64][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := uidRe.FindStringSubmatch(filepath.Base(f))
		if m == nil {
			t.Fatalf("maildir file %s has no UID", f)
		}
		var uid int64
		fmt.Sscan(m[1], &uid)
		// mbsync adds an X-TUID header field to every message it propagates (it uses it to
		// find messages it uploads); it is not the server's.
		got[uid] = tuidRe.ReplaceAll(b, nil)
	}
	var total, totalGot int
	for _, sum := range sums {
		raw, err := st.Raw(context.Background(), sum.ID)
		if err != nil {
			t.Fatal(err)
		}
		// mbsync stores Maildir messages with LF line ends (isync converts CRLF); everything
		// else must be the stored bytes, byte for byte.
		want := bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
		if !bytes.Equal(got[sum.UID], want) {
			t.Errorf("UID %d: mbsync has %d bytes, the store %d (%d with LF line ends)", sum.UID, len(got[sum.UID]), len(raw), len(want))
		}
		total += len(want)
		totalGot += len(got[sum.UID])
	}
	keys := make([]int64, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	t.Logf("mbsync pulled %d messages, %d bytes (UIDs %d..%d)", len(got), totalGot, keys[0], keys[len(keys)-1])

	// A second run finds nothing new and changes nothing.
	run(t, mbsync, "-c", cfg, "-a")
	var again []string
	for _, sub := range []string{"new", "cur"} {
		matches, _ := filepath.Glob(filepath.Join(maildir, "INBOX", sub, "*"))
		again = append(again, matches...)
	}
	if len(again) != len(sums) {
		t.Errorf("second mbsync run: %d messages, want %d", len(again), len(sums))
	}
}
