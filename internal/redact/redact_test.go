package redact

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	// A base64 key has the characters that escaping changes: / + =.
	const secret = "sk/A+b=c?d#e%f&g h\"<i>"
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	jsonOf := func(s string) string { b, _ := json.Marshal(s); return strings.Trim(string(b), `"`) }
	tests := map[string]string{
		"raw":                           secret,
		"path-escaped":                  url.PathEscape(secret),
		"query-escaped":                 url.QueryEscape(secret),
		"query-escaped, lower-case hex": regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(url.QueryEscape(secret), strings.ToLower),
		"in a URL path":                 (&url.URL{Scheme: "https", Host: "h", Path: "/v1/" + secret}).String(),
		"in a URL query":                "https://h/?" + url.Values{"key": {secret}}.Encode(),
		"JSON":                          jsonOf(secret),
		"HTML":                          html.EscapeString(secret),
		"Go-quoted":                     fmt.Sprintf("%q", secret),
		"base64":                        b64,
		"base64 URL, unpadded":          base64.RawURLEncoding.EncodeToString([]byte(secret)),
		"path-escaped base64":           url.PathEscape(b64),
		"query-escaped base64":          url.QueryEscape(b64),
		"Basic credential":              "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+secret)),
		"base64 after 2 bytes":          base64.StdEncoding.EncodeToString([]byte("ab" + secret + "tail")),
	}
	r := New(secret, "")
	for name, shape := range tests {
		t.Run(name, func(t *testing.T) {
			text := "before " + shape + " after"
			got := r.String(text)
			if !r.Contains(text) {
				t.Errorf("Contains(%q) = false", text)
			}
			if !strings.Contains(got, Mask) || !strings.HasPrefix(got, "before ") || !strings.HasSuffix(got, " after") {
				t.Errorf("String(%q) = %q", text, got)
			}
			// What is left must not hold a recognisable piece of the secret.
			for _, piece := range []string{"sk/A", "sk%2FA", "c?d#e", b64[4:16]} {
				if strings.Contains(got, piece) {
					t.Errorf("String(%q) = %q, still holding %q", text, got, piece)
				}
			}
		})
	}
	if r.Contains("nothing secret here") || r.String("plain") != "plain" {
		t.Error("text without the secret changed")
	}
	if got := New().String("x"); got != "x" {
		t.Errorf("no secrets: %q", got)
	}
	var nilR *Redactor
	if nilR.String("x") != "x" || nilR.Contains("x") {
		t.Error("a nil Redactor masks")
	}
}

func TestError(t *testing.T) {
	r := New("hunter2")
	base := &fs.PathError{Op: "open", Path: "/k/hunter2", Err: fs.ErrNotExist}
	err := r.Error(fmt.Errorf("tool: %w", base))
	if strings.Contains(err.Error(), "hunter2") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, chain kept: %v", err, errors.Is(err, fs.ErrNotExist))
	}
	plain := errors.New("nothing")
	if r.Error(plain) != plain || r.Error(nil) != nil {
		t.Error("an error without the secret is not returned as is")
	}
}

// FuzzString masks any secret in any text: what is left holds none of its
// shapes, and text without them is left alone.
func FuzzString(f *testing.F) {
	f.Add("sk/A+b=c", "key sk%2FA%2Bb%3Dc and c2svQStiPWM=")
	f.Add("TEDy", "ATEDyy")
	f.Add("hunter2", "nothing here")
	f.Fuzz(func(t *testing.T, secret, text string) {
		r := New(secret)
		got := r.String(text)
		if r.Contains(got) && !strings.Contains(Mask, secret) {
			t.Fatalf("String(%q) = %q still holds %q", text, got, secret)
		}
		if !r.Contains(text) && got != text {
			t.Fatalf("String(%q) = %q without a secret in it", text, got)
		}
	})
}
