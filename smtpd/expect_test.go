package smtpd

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/store"
)

// expectingDeliverer counts the messages announced to it (Expect) and not yet withdrawn, and
// records how many were outstanding once each Add had read its message.
type expectingDeliverer struct {
	mu          sync.Mutex
	outstanding int
	announced   int
	atAdd       []int
}

func (d *expectingDeliverer) Expect() func() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.outstanding++
	d.announced++
	var once sync.Once
	return func() {
		once.Do(func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.outstanding--
		})
	}
}

func (d *expectingDeliverer) Add(ctx context.Context, env store.Envelope, raw io.Reader) (store.Summary, error) {
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return store.Summary{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.atAdd = append(d.atAdd, d.outstanding)
	return store.Summary{ID: "x"}, nil
}

func (d *expectingDeliverer) counts() (outstanding, announced int, atAdd []int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.outstanding, d.announced, append([]int(nil), d.atAdd...)
}

// TestExpectAnnouncements: every transaction is announced to the store at MAIL FROM and the
// announcement is withdrawn as soon as the store reads the message, or when the transaction
// ends without one (RSET, a refused message, QUIT, a dropped connection). One
// left behind would make every later commit wait for a message that never comes.
func TestExpectAnnouncements(t *testing.T) {
	d := &expectingDeliverer{}
	ts := startWith(t, d, Options{MaxMessageSize: 4096})
	msg := message("announced", "body")

	c := dial(t, ts.addr)
	c.cmd(250, "EHLO client.test")
	c.send("a@example.net", []string{"b@example.net"}, msg) // delivered
	c.cmd(250, "MAIL FROM:<a@example.net>")                 // abandoned by RSET
	c.cmd(250, "RSET")
	c.cmd(250, "MAIL FROM:<a@example.net>") // refused: too big
	c.cmd(250, "RCPT TO:<b@example.net>")
	if code, text := c.data(strings.Repeat("x", 8000) + "\r\n"); code != 552 {
		t.Fatalf("oversize message: %d %s", code, text)
	}
	c.cmd(250, "MAIL FROM:<a@example.net>") // ended by QUIT
	c.cmd(221, "QUIT")

	c2 := dial(t, ts.addr)
	c2.cmd(250, "EHLO client.test")
	c2.cmd(250, "MAIL FROM:<a@example.net>") // ended by a dropped connection
	c2.conn.Close()

	deadline := time.Now().Add(10 * time.Second)
	for {
		outstanding, announced, atAdd := d.counts()
		if outstanding == 0 && announced == 5 {
			if len(atAdd) != 1 || atAdd[0] != 0 {
				t.Errorf("announcements outstanding once Add had read the message: %v, want [0]", atAdd)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d announcements still outstanding (want 0 of 5)", outstanding, announced)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
