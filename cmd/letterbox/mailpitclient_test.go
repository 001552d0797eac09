package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// mailpitAPIVersion is the mailpit-api npm client the test drives.
const mailpitAPIVersion = "2.1.0"

// TestMailpitAPIClientSendsAndReleases runs the mailpit-api npm client (what Playwright and
// Jest suites use) against letterbox: sendMessage stores a message, releaseMessage relays it
// to a second letterbox process.
func TestMailpitAPIClientSendsAndReleases(t *testing.T) {
	node, err := exec.LookPath("node")
	npm, nerr := exec.LookPath("npm")
	if err != nil || nerr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node and npm are needed (required under CI=true)")
		}
		t.Skip("node or npm not installed")
	}
	dir := t.TempDir()
	install := exec.Command(npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", dir, "mailpit-api@"+mailpitAPIVersion)
	if out, err := install.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("npm install mailpit-api: %v\n%s", err, out)
		}
		t.Skipf("npm install mailpit-api failed (no registry?): %v\n%s", err, out)
	}
	up := startUpstream(t)
	a := startProcess(t, "--db", filepath.Join(t.TempDir(), "a.db"), "--relay-host", "127.0.0.1", "--relay-port", strconv.Itoa(port(t, up.addrs["smtp"])))

	script := filepath.Join(dir, "run.mjs")
	os.WriteFile(script, []byte(`
import { MailpitClient } from "mailpit-api";
const mailpit = new MailpitClient(process.env.LETTERBOX_URL);
const sent = await mailpit.sendMessage({
  From: { Email: "app@example.com", Name: "The App" },
  To: [{ Email: "dev@example.com" }],
  Subject: "Through mailpit-api",
  Text: "Hello from the npm client.",
  Attachments: [{ Content: Buffer.from("attached").toString("base64"), Filename: "a.txt" }],
  Tags: ["npm"],
});
const summary = await mailpit.getMessageSummary(sent.ID);
const released = await mailpit.releaseMessage(sent.ID, { To: ["bob@example.com"] });
let refused = "";
try { await mailpit.sendMessage({ To: [{ Email: "dev@example.com" }] }); } catch (e) { refused = e.message; }
console.log(JSON.stringify({ id: sent.ID, subject: summary.Subject, tags: summary.Tags, attachments: summary.Attachments.length, released, refused }));
`), 0o600)
	cmd := exec.Command(node, script)
	cmd.Env = append(os.Environ(), "LETTERBOX_URL=http://"+a.addrs["http"])
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node: %v\n%s\n%s", err, out, stderr)
	}
	var got struct {
		ID, Subject, Released, Refused string
		Tags                           []string
		Attachments                    int
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.ID == "" || got.Subject != "Through mailpit-api" || got.Attachments != 1 || len(got.Tags) != 1 || got.Tags[0] != "npm" || got.Released != "ok" {
		t.Errorf("mailpit-api saw %+v", got)
	}
	if got.Refused == "" || !strings.Contains(got.Refused, "400") || !strings.Contains(got.Refused, "From.Email: required") {
		t.Errorf("a send without From: %q", got.Refused)
	}
	msgs := messages(t, up.addrs["http"])
	if len(msgs) != 1 || msgs[0].Subject != "Through mailpit-api" || len(msgs[0].Envelope.Recipients) != 1 || msgs[0].Envelope.Recipients[0] != "bob@example.com" {
		t.Errorf("the second letterbox got %+v", msgs)
	}
}
