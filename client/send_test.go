package client_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/client"
	"github.com/letterbox-mail/letterbox/letterboxtest"
)

func TestSend(t *testing.T) {
	mail := letterboxtest.Start(t)
	c := mail.Client()
	id, err := c.Send(t.Context(), client.SendRequest{
		From:        client.SendAddress{Email: "app@example.com", Name: "App"},
		To:          []client.SendAddress{{Email: "dev@app.test"}},
		Subject:     "Sent over HTTP",
		Text:        "hello",
		HTML:        "<p>hello</p>",
		Attachments: []client.SendAttachment{client.NewSendAttachment("notes.txt", []byte("a note"))},
		Tags:        []string{"api"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Get(t.Context(), id)
	if err != nil || m.Subject != "Sent over HTTP" || m.From.Name != "App" || !slices.Equal(m.Tags, []string{"api"}) || len(m.Attachments) != 1 {
		t.Fatalf("sent message: %+v %v", m, err)
	}
	part, _, err := c.Part(t.Context(), id, m.Attachments[0].PartID)
	if err != nil || string(part) != "a note" {
		t.Errorf("attachment: %q %v", part, err)
	}
	_, err = c.Send(t.Context(), client.SendRequest{Subject: "no sender"})
	if !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), "From") {
		t.Errorf("no From: %v", err)
	}
}
