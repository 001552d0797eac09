package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/letterbox-mail/letterbox/client"
)

// The examples run against a letterbox started by TestMain (see main_test.go): exampleURL is its
// HTTP address, and sendMail stands for the application under test sending a message over SMTP.

func Example() {
	ctx := context.Background()
	c, err := client.New(exampleURL) // e.g. "http://127.0.0.1:8025"
	if err != nil {
		panic(err)
	}
	start := time.Now()
	sendMail("dev@app.test", "Verify your address", "Open https://app.test/verify?t=abc123 to confirm.")

	list, err := c.WaitFor(ctx, "to:dev@app.test subject:verify", client.WaitOptions{Since: start, Timeout: 10 * time.Second})
	if errors.Is(err, client.ErrTimeout) {
		fmt.Println("no verification mail")
		return
	}
	if err != nil {
		panic(err)
	}
	msg, err := c.Get(ctx, list.Messages[0].ID)
	if err != nil {
		panic(err)
	}
	fmt.Println(msg.Subject)
	fmt.Println(msg.To[0].Address)
	// Output:
	// Verify your address
	// dev@app.test
}

func ExampleClient_WaitFor() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _ := client.New(exampleURL)
	start := time.Now()
	for _, to := range []string{"ann@team.test", "ben@team.test", "cy@team.test"} {
		sendMail(to, "You are invited", "Join the team.")
	}
	// All three invitations, however long they take (up to ctx's deadline).
	list, err := c.WaitFor(ctx, "subject:invited", client.WaitOptions{Count: 3, Since: start})
	if err != nil {
		panic(err)
	}
	fmt.Println(list.MessagesCount, "invitations")
	// Output: 3 invitations
}

func ExampleClient_Search() {
	ctx := context.Background()
	c, _ := client.New(exampleURL)
	sendMail("ops@shop.test", "Order 1001 shipped", "Tracking: ZX81.")
	list, err := c.Search(ctx, `to:ops@shop.test subject:"order 1001"`, 0, 10)
	if err != nil {
		panic(err)
	}
	for _, m := range list.Messages {
		fmt.Println(m.Subject)
	}
	_, err = c.Search(ctx, "is:bogus", 0, 10)
	fmt.Println(errors.Is(err, client.ErrBadQuery))
	// Output:
	// Order 1001 shipped
	// true
}

func ExampleError() {
	c, _ := client.New(exampleURL)
	_, err := c.Get(context.Background(), "no-such-id")
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, errors.Is(err, client.ErrNotFound))
	}
	// Output: 404 true
}
