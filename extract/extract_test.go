package extract

import (
	"slices"
	"testing"
)

func TestLinks(t *testing.T) {
	html := `<html><body><p>Hi!</p>
<a href="https://app.test/confirm?token=abc&amp;u=1"><b>Confirm</b> your   account</a>
<a href="mailto:help@app.test">mail us</a> <a href="javascript:alert(1)">x</a>
<a href=" http://app.test/unsub "><img alt="Unsubscribe" src="x.png"></a>
<map><area href="https://app.test/area"></map>
<a href="https://app.test/confirm?token=abc&u=1">again</a>
</body></html>`
	text := "Confirm: https://app.test/confirm?token=abc&u=1.\nOr (see https://app.test/help).\nDocs at https://en.wikipedia.org/wiki/Go_(language), thanks!\nhttp:// alone"
	got := Links(html, text)
	want := []Link{
		{URL: "https://app.test/confirm?token=abc&u=1", Text: "Confirm your account", Source: "html"},
		{URL: "http://app.test/unsub", Text: "Unsubscribe", Source: "html"},
		{URL: "https://app.test/area", Source: "html"},
		{URL: "https://app.test/help", Source: "text"},
		{URL: "https://en.wikipedia.org/wiki/Go_(language)", Source: "text"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Links:\n got %+v\nwant %+v", got, want)
	}
	if got := Links("", ""); len(got) != 0 {
		t.Errorf("no bodies: %v", got)
	}
}

func TestCodes(t *testing.T) {
	cases := []struct {
		name, subject, text string
		want                []string
	}{
		{"sentence", "Your sign-in code", "Hi Bob,\n\nYour verification code is 482913. It expires in 10 minutes.\n\nThanks, the team (2024)", []string{"482913"}},
		{"own line", "Verify your email", "Use this code to verify:\n\n    739201\n\nIf you did not ask, ignore this.", []string{"739201"}},
		{"dashed", "", "Your Slack confirmation code: 123-456", []string{"123-456"}},
		{"google", "", "G-552019 is your Google verification code.", []string{"552019"}},
		{"letters and digits", "Login attempt", "Enter the one-time code XK7F9Q to log in.", []string{"XK7F9Q"}},
		{"subject only", "Your OTP is 9087", "", []string{"9087"}},
		{"order number is not a code", "Your order", "Order #58213340 has shipped. Call 555-0199 with questions. Total $1299.", nil},
		{"no keyword", "Newsletter", "We had 12345 visitors in 2024 and 3 new features.", nil},
		{"url and address", "Reset your password", "Go to https://app.test/reset/839201 or write to user482913@app.test.", nil},
		{"shipping is not pin", "Shipped", "Shipping to 90210 today.", nil},
		{"two codes, the likelier first", "Security alert", "Order 44412 confirmed.\nYour security PIN: 8812\n", []string{"8812"}},
		{"lower-case code", "", "Your login token: a7k2m9x", []string{"a7k2m9x"}},
		{"spanish", "", "Tu código de verificación es 551234", []string{"551234"}},
	}
	for _, c := range cases {
		var got []string
		for _, code := range Codes(c.subject, c.text) {
			got = append(got, code.Code)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	codes := Codes("", "Your verification code is 482913. It expires in 10 minutes.")
	if len(codes) != 1 || codes[0].Context != "Your verification code is 482913. It expires in 10 minutes." {
		t.Errorf("context: %+v", codes)
	}
}
