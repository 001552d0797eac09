package store

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/letterbox-mail/letterbox/internal/realmail"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// TestDecodeHeaderCharsets decodes encoded words in charsets other than UTF-8 and Latin-1 (the
// ones mime converts itself), B and Q encoded, and leaves a word in an unknown charset as it was.
func TestDecodeHeaderCharsets(t *testing.T) {
	for _, c := range []struct {
		label string
		enc   encoding.Encoding
		text  string
	}{
		{"iso-8859-2", charmap.ISO8859_2, "Zażółć gęślą jaźń"},
		{"windows-1251", charmap.Windows1251, "Ваш заказ отправлен"},
		{"koi8-r", charmap.KOI8R, "Пароль изменён"},
		{"iso-2022-jp", japanese.ISO2022JP, "ご注文ありがとうございます"},
		{"shift_jis", japanese.ShiftJIS, "パスワードの再設定"},
		{"gb2312", simplifiedchinese.GBK, "您的订单已发货"}, // GBK encodes GB2312's characters alike
		{"gbk", simplifiedchinese.GBK, "尊敬的客户"},
		{"big5", traditionalchinese.Big5, "您的訂單"},
		{"euc-kr", korean.EUCKR, "주문이 완료되었습니다"},
		{"windows-1252", charmap.Windows1252, "Café – “quoted”"},
	} {
		encoded, err := c.enc.NewEncoder().String(c.text)
		if err != nil {
			t.Fatalf("%s: %v", c.label, err)
		}
		for _, word := range []string{
			"=?" + c.label + "?B?" + base64.StdEncoding.EncodeToString([]byte(encoded)) + "?=",
			"=?" + strings.ToUpper(c.label) + "?Q?" + qEncode(encoded) + "?=",
		} {
			if got := decodeHeader("Re: " + word); got != "Re: "+c.text {
				t.Errorf("%s: decodeHeader(%q) = %q, want %q", c.label, word, got, "Re: "+c.text)
			}
		}
	}
	unknown := "=?x-unknown?B?" + base64.StdEncoding.EncodeToString([]byte("abc")) + "?="
	if got := decodeHeader(unknown); got != unknown {
		t.Errorf("unknown charset: %q, want it as it was", got)
	}
}

// qEncode writes s as the Q encoding of RFC 2047, every byte but letters as =XX.
func qEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// TestMediaTypeMemory: a media type answered from memory is the one parsing gives, and what a
// caller does to the parameters it got does not change the next answer.
func TestMediaTypeMemory(t *testing.T) {
	values := []string{"text/plain; charset=utf-8", "text/html; charset=\"UTF-8\"", "TEXT/PLAIN", "text/plain; charset=us-ascii; format=flowed",
		"text/plain; charset=iso-8859-1; delsp=yes; format=flowed", "image/png", "application/pdf; name=\"a.pdf\"",
		"multipart/alternative; boundary=\"b1\"", "text/plain;; charset=utf-8;", "text/plain charset=utf-8", "charset=utf-8",
		"text/plain; charset=\"utf-8\"</p>", "text/calendar; method=REQUEST; charset=UTF-8", ""}
	for i := range 200 {
		raw := string(realmail.Mix(i).Raw)
		for _, line := range strings.Split(raw, "\n") {
			if v, ok := strings.CutPrefix(line, "Content-Type: "); ok {
				values = append(values, strings.TrimSpace(v))
			}
		}
	}
	for _, v := range values {
		want, wantParams, wantInvalid, wantErr := parseMediaType(v)
		for round := range 3 {
			got, params, invalid, err := mediaType(v)
			if got != want || !maps.Equal(params, wantParams) || !slices.Equal(invalid, wantInvalid) || (err == nil) != (wantErr == nil) {
				t.Fatalf("%q, round %d: %q %v %q %v, want %q %v %q %v", v, round, got, params, invalid, err, want, wantParams, wantInvalid, wantErr)
			}
			if params != nil {
				params["charset"] = "changed by the caller"
			}
		}
	}
	if _, ok := mediaTypes.Load("text/plain; charset=utf-8"); !ok {
		t.Error("text/plain; charset=utf-8 was not kept")
	}
	if _, ok := mediaTypes.Load("multipart/alternative; boundary=\"b1\""); ok {
		t.Error("a boundary was kept")
	}
}
