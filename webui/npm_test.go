package webui

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net"
	"net/smtp"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/policy"
	"github.com/letterbox-mail/letterbox/store"
)

// npmClients are the client packages the test runs, at the versions read for compatibility.
var npmClients = []string{"mailhog@4.16.0", "mailpit-api@2.1.0", "cypress-mailhog@2.5.0"}

// npmModules returns a node_modules directory holding npmClients: fetched once with npm pack
// into the user's cache, or from LETTERBOX_NPM_MODULES. Without node and npm the test is
// skipped (under CI=true it fails).
func npmModules(t *testing.T) string {
	t.Helper()
	missing := func(why string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(why, args...)
		}
		t.Skipf(why, args...)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("node is not installed: %v", err)
	}
	if dir := os.Getenv("LETTERBOX_NPM_MODULES"); dir != "" {
		return dir
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "letterbox-test", "npm-"+strings.Join(npmClients, "-"), "node_modules")
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	if _, err := exec.LookPath("npm"); err != nil {
		missing("npm is not installed: %v", err)
	}
	packs := t.TempDir()
	cmd := exec.Command("npm", append([]string{"pack", "--silent", "--pack-destination", packs}, npmClients...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		missing("npm pack %v: %v\n%s", npmClients, err, out)
	}
	tgzs, _ := filepath.Glob(filepath.Join(packs, "*.tgz"))
	if len(tgzs) != len(npmClients) {
		t.Fatalf("npm pack made %v", tgzs)
	}
	for _, tgz := range tgzs {
		name := strings.TrimSuffix(filepath.Base(tgz), ".tgz")
		name = name[:strings.LastIndexByte(name, '-')] // mailpit-api-2.1.0 -> mailpit-api
		if err := untar(tgz, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
	return dir
}

// untar extracts an npm package (files under package/) into dir.
func untar(tgz, dir string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		rel, ok := strings.CutPrefix(h.Name, "package/")
		if !ok || h.Typeflag != tar.TypeReg || strings.Contains(rel, "..") {
			continue
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
}

// node runs a phase of testdata/npmclients.js against e and decodes what it printed.
func (e *testEnv) node(modules, phase string, out any) {
	e.t.Helper()
	e.nodeScript(modules, out, "testdata/npmclients.js", phase)
}

// nodeScript runs a script of testdata against e and decodes what it printed.
func (e *testEnv) nodeScript(modules string, out any, args ...string) {
	e.t.Helper()
	u, _ := url.Parse(e.url)
	host, port, _ := net.SplitHostPort(u.Host)
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "LETTERBOX_HOST="+host, "LETTERBOX_PORT="+port)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("node %v: %v\n%s", args, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		e.t.Fatalf("node %v printed %q: %v", args, stdout.String(), err)
	}
}

// npmMessage is a message with a text part and a PDF attachment, as the clients' helpers read them.
const npmMessage = "From: App <app@example.com>\r\nTo: Dev <dev@example.com>\r\nSubject: With an attachment\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
	"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attached report.\r\n" +
	"--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n"

// TestNpmClients runs the real npm clients of MailHog's API (mailhog) and Mailpit's (mailpit-api)
// against letterbox: listing, search, attachments, Content.Size, deletes, info and chaos.
func TestNpmClients(t *testing.T) {
	modules := npmModules(t)
	e, _, addr := faultEnv(t, policy.Options{ChaosEnabled: true})
	e.add(msg{subject: "Plain one", text: "hello there", to: []string{"dev@example.com"}})
	e.addRaw(store.Envelope{}, npmMessage)

	var mp struct {
		Messages, Listed int
		Before, Set      policy.ChaosTriggers
	}
	e.node(modules, "mailpit", &mp)
	if mp.Messages != 2 || mp.Listed != 2 || mp.Before != policy.DefaultChaos() ||
		mp.Set.Sender != (policy.ChaosTrigger{ErrorCode: 451, Probability: 100}) || mp.Set.Recipient.Probability != 0 {
		t.Errorf("mailpit-api: %+v", mp)
	}
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@example.com"); err == nil || !strings.Contains(err.Error(), "451") {
		t.Errorf("MAIL under the client's chaos: %v", err)
	}
	c.Close()
	var reset struct {
		Reset    policy.ChaosTriggers
		Messages int
	}
	e.node(modules, "mailpitReset", &reset)
	if reset.Reset != policy.DefaultChaos() || reset.Messages != 0 {
		t.Errorf("mailpit-api reset: %+v", reset)
	}

	e.add(msg{subject: "Plain one", text: "hello there", to: []string{"dev@example.com"}})
	withAttachment := e.addRaw(store.Envelope{}, npmMessage)
	raw, _ := e.st.Raw(t.Context(), withAttachment.ID)
	var mh struct {
		Total, Count, Size                              int
		Subject, From, To, Text, LatestTo               string
		Attachments                                     []string
		SearchCount                                     int
		AfterDeleteOne, DeleteAllStatus, AfterDeleteAll int
	}
	e.node(modules, "mailhog", &mh)
	if mh.Total != 2 || mh.Count != 2 || mh.Subject != "With an attachment" || mh.Size != len(raw) ||
		len(mh.Attachments) != 1 || mh.Attachments[0] != "report.pdf" || !strings.Contains(mh.Text, "See the attached") ||
		mh.SearchCount != 1 || mh.LatestTo == "" {
		t.Errorf("mailhog: %+v (raw size %d)", mh, len(raw))
	}
	if mh.AfterDeleteOne != 1 || mh.DeleteAllStatus != 200 || mh.AfterDeleteAll != 0 {
		t.Errorf("mailhog deletes: %+v", mh)
	}

	off := newEnv(t, Options{})
	var offRes struct{ Error string }
	off.node(modules, "mailpitOff", &offRes)
	if !strings.Contains(offRes.Error, "400") || !strings.Contains(offRes.Error, "Chaos is not enabled") {
		t.Errorf("getChaosTriggers without chaos: %q", offRes.Error)
	}
}

// TestCypressMailHog runs cypress-mailhog's own commands (through testdata/cypressmailhog.js, a
// stand-in for Cypress that makes cy.request's real requests): mhGetJimMode and mhSetJimMode
// turn Jim on and off as with MailHog, and mhGetAllMails and mhDeleteAll work.
func TestCypressMailHog(t *testing.T) {
	modules := npmModules(t)
	e, eng, _ := faultEnv(t, policy.Options{})
	e.add(msg{subject: "For cypress", text: "hello", to: []string{"dev@example.com"}})
	var got struct {
		JimBefore, JimOn, JimAfter                                   bool
		SetOnStatus, SetOnAgainStatus, SetOffStatus, DeleteAllStatus int
		Mails, MailsAfter                                            int
	}
	e.nodeScript(modules, &got, "testdata/cypressmailhog.js")
	if got.JimBefore || !got.JimOn || got.JimAfter || got.SetOnStatus != 201 || got.SetOnAgainStatus != 400 || got.SetOffStatus != 200 {
		t.Errorf("Jim through mhGetJimMode/mhSetJimMode: %+v", got)
	}
	if got.Mails != 1 || got.DeleteAllStatus != 200 || got.MailsAfter != 0 {
		t.Errorf("mhGetAllMails/mhDeleteAll: %+v", got)
	}
	if j, on := eng.Jim(); on {
		t.Errorf("Jim still on after mhSetJimMode(false): %+v", j)
	}
}
