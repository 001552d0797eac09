package pop3d_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/pop3d"
	"github.com/letterbox-mail/letterbox/store"
)

// corpus stores messages that are hard to carry intact: dot-stuffing, a line that is only a
// dot, "From " at the start of a body line, 8-bit text, a large multipart with long lines.
func corpus(t *testing.T, st *store.Store) []store.Summary {
	t.Helper()
	multipart, err := os.ReadFile(filepath.Join("..", "testdata", "multipart.eml"))
	if err != nil {
		t.Fatal(err)
	}
	big := "From: Big <big@example.net>\r\nTo: all@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"xyz\"\r\n\r\n--xyz\r\nContent-Type: text/plain\r\n\r\n" +
		strings.Repeat("a fairly long line of text that is repeated to make the message big. ", 30) + "\r\n" +
		strings.Repeat(".dotted line\r\n", 500) + "--xyz\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + strings.Repeat(strings.Repeat("QUJD", 19)+"\r\n", 3000) + "--xyz--\r\n"
	return []store.Summary{
		add(t, st, msg("alice@example.com", "dots", ".\r\n..\r\n.leading\r\nFrom the start of a line\r\n>From quoted\r\n.\r\n"), "alice@example.com"),
		add(t, st, string(multipart), "bob@example.com"),
		add(t, st, msg("carol@example.com", "8bit", "Grüße, naïve café — ✓\r\n"), "carol@example.com"),
		add(t, st, big, "all@example.com"),
		add(t, st, msg("erin@example.com", "empty body", ""), "erin@example.com"),
	}
}

// runTool runs a program with a deadline and returns its standard output.
func runTool(t *testing.T, dir string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %q: %v\nstdout:\n%s\nstderr:\n%s", name, args, err, stdout.Bytes(), stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Logf("%s stderr:\n%s", name, stderr.Bytes())
	}
	return stdout.Bytes()
}

// writeCA writes the certificate a client config trusts as a PEM file.
func writeCA(t *testing.T, dir string, srvTLS *tlsConfigPair) string {
	t.Helper()
	path := filepath.Join(dir, "ca.pem")
	der := srvTLS.srv.Certificates[0].Certificate[0]
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCurl(t *testing.T) {
	curl := tool(t, "curl")
	st := newStore(t)
	msgs := corpus(t, st)
	pair := newTLSPair(t)
	srv := start(t, st, pop3d.Options{TLSConfig: pair.srv})
	dir := t.TempDir()
	ca := writeCA(t, dir, pair)
	base := "pop3://" + srv.addr + "/"

	list := runTool(t, dir, curl, "-sS", "--user", "everyone:secret", base)
	var want []string
	for i, m := range msgs {
		want = append(want, fmt.Sprintf("%d %d", i+1, m.Size))
	}
	if got := strings.Split(strings.TrimSuffix(string(list), "\r\n"), "\r\n"); !slices.Equal(got, want) {
		t.Errorf("curl list:\n got %q\nwant %q", got, want)
	}

	uidl := runTool(t, dir, curl, "-sS", "--user", "alice@example.com:x", "-X", "UIDL", base)
	if want := fmt.Sprintf("1 %d-%d\r\n", st.UIDValidity(), msgs[0].UID); string(uidl) != want {
		t.Errorf("curl UIDL as alice: %q, want %q", uidl, want)
	}

	for i, m := range msgs {
		// Over STLS with the certificate checked, as a careful client does.
		got := runTool(t, dir, curl, "-sS", "--ssl-reqd", "--cacert", ca, "--user", "everyone:secret", fmt.Sprintf("%s%d", base, i+1))
		if raw := rawOf(t, st, m.ID); !bytes.Equal(got, raw) {
			t.Errorf("curl RETR %d: %d bytes differ from store.Raw (%d bytes)", i+1, len(got), len(raw))
		}
	}
	// curl's DELE: the message goes at QUIT.
	runTool(t, dir, curl, "-sS", "--user", "erin@example.com:x", "-X", "DELE", base+"1", "-I")
	if _, err := st.Raw(context.Background(), msgs[4].ID); err == nil {
		t.Error("message still stored after curl DELE")
	}
}

// delivered reads the files an MDA command wrote and removes them.
func delivered(t *testing.T, dir string) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "m.*"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		os.Remove(f)
	}
	return out
}

// sameMessages checks that got holds exactly the wanted messages, in any order.
func sameMessages(t *testing.T, client string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s delivered %d messages, want %d", client, len(got), len(want))
	}
	left := slices.Clone(got)
	for i, w := range want {
		j := slices.IndexFunc(left, func(g []byte) bool { return bytes.Equal(g, w) })
		if j < 0 {
			t.Errorf("%s: message %d (%d bytes) not delivered intact", client, i+1, len(w))
			continue
		}
		left = slices.Delete(left, j, j+1)
	}
	for _, g := range left {
		t.Errorf("%s delivered an unexpected message (%d bytes): %.300q", client, len(g), g)
	}
}

// TestMpop downloads the maildrop with mpop over STLS with the certificate checked. mpop hands
// messages to its MDA with LF line endings (its documented local convention), so each must equal
// store.Raw with CRLF turned into LF. A second run must find nothing new (UIDL is stable), and a
// run without keep must delete everything from the store (DELE + QUIT).
func TestMpop(t *testing.T) {
	mpop := tool(t, "mpop")
	st := newStore(t)
	msgs := corpus(t, st)
	pair := newTLSPair(t)
	srv := start(t, st, pop3d.Options{TLSConfig: pair.srv})
	dir := t.TempDir()
	ca := writeCA(t, dir, pair)
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	port := srv.addr[strings.LastIndexByte(srv.addr, ':')+1:]
	conf := filepath.Join(dir, "mpoprc")
	rc := fmt.Sprintf("account letterbox\nhost 127.0.0.1\nport %s\nuser everyone\npassword secret\n"+
		"tls on\ntls_starttls on\ntls_trust_file %s\nreceived_header off\n"+
		"delivery mda \"cat > $(mktemp %s/m.XXXXXX)\"\nuidls_file %s\n",
		port, ca, out, filepath.Join(dir, "uidls"))
	if err := os.WriteFile(conf, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for _, m := range msgs {
		want = append(want, bytes.ReplaceAll(rawOf(t, st, m.ID), []byte("\r\n"), []byte("\n")))
	}
	runTool(t, dir, mpop, "-C", conf, "--keep=on", "--quiet", "letterbox")
	sameMessages(t, "mpop", delivered(t, out), want)

	runTool(t, dir, mpop, "-C", conf, "--keep=on", "--quiet", "letterbox")
	if again := delivered(t, out); len(again) != 0 {
		t.Errorf("second mpop run fetched %d messages again: UIDL not stable", len(again))
	}

	runTool(t, dir, mpop, "-C", conf, "--keep=off", "--quiet", "letterbox")
	if left, err := st.Index(context.Background(), store.Filter{}); err != nil || len(left) != 0 {
		t.Errorf("after mpop --keep=off the store holds %d messages (%v)", len(left), err)
	}
}

// TestFetchmail downloads the maildrop with fetchmail (over STLS, which it insists on, with the
// certificate checked) into an MDA that writes exactly what it
// gets; with "no stripcr" and "invisible" fetchmail adds and changes nothing, so every message
// must be byte-identical to store.Raw.
func TestFetchmail(t *testing.T) {
	fetchmail := tool(t, "fetchmail")
	st := newStore(t)
	msgs := corpus(t, st)
	pair := newTLSPair(t)
	srv := start(t, st, pop3d.Options{TLSConfig: pair.srv})
	dir := t.TempDir()
	ca := writeCA(t, dir, pair)
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	port := srv.addr[strings.LastIndexByte(srv.addr, ':')+1:]
	rcfile := filepath.Join(dir, "fetchmailrc")
	rc := fmt.Sprintf("set no syslog\nset no bouncemail\nset invisible\n"+
		"poll 127.0.0.1 service %s proto POP3 auth password\n"+
		"  user \"everyone\" with password \"secret\" is \"me\" here\n"+
		"  mda \"cat > $(mktemp %s/m.XXXXXX)\"\n"+
		"  options no stripcr no rewrite keep fetchall sslproto tls1.2+ sslcertck sslcommonname localhost sslcertfile %s\n", port, out, ca)
	if err := os.WriteFile(rcfile, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for _, m := range msgs {
		want = append(want, rawOf(t, st, m.ID))
	}
	runTool(t, dir, fetchmail, "-f", rcfile, "--nodetach", "--pidfile", filepath.Join(dir, "pid"))
	sameMessages(t, "fetchmail", delivered(t, out), want)
	for _, m := range msgs {
		if sum, err := st.Summary(context.Background(), m.ID); err != nil || !sum.Read {
			t.Errorf("message %s not read after fetchmail (%v)", m.ID, err)
		}
	}
}
