// Package redact hides secret values in text that people, logs or a model see:
// error messages, sources, traces and tool output. A secret travels through a
// request in other shapes than its own (path- or query-escaped in a URL, quoted
// in JSON, base64 in a Basic credential, echoed back by a server in an HTML page
// or a Go-quoted error), so a Redactor looks for every one of them.
package redact

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Mask is what a secret is replaced with.
const Mask = "REDACTED"

// minB64 is the fewest base64 characters of a secret seen inside a longer
// base64 text ("user:secret" in a Basic credential) that are masked: shorter
// runs would mask innocent text.
const minB64 = 8

// Redactor masks a fixed set of secrets. The zero value masks nothing.
type Redactor struct {
	forms []string // every shape of every secret, longest first
}

// New returns a Redactor for secrets; empty values are ignored.
func New(secrets ...string) *Redactor {
	seen := map[string]bool{}
	var forms []string
	add := func(f string) {
		// A shape inside Mask ("ACT", or base64 that reads "REDA") cannot be
		// told from a mask: it is left alone.
		if f != "" && !seen[f] && !strings.Contains(Mask, f) {
			seen[f] = true
			forms = append(forms, f)
		}
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, b := range append([]string{s}, base64Forms(s)...) {
			for _, f := range escapes(b) {
				add(f)
				add(lowerHex(f))
			}
		}
	}
	slices.SortStableFunc(forms, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return &Redactor{forms: forms}
}

// escapes are the shapes s takes in a URL, in JSON, in HTML and in Go quoting.
func escapes(s string) []string {
	j, _ := json.Marshal(s) // a string always marshals
	var plain strings.Builder
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return []string{
		s,
		url.PathEscape(s),
		url.QueryEscape(s),
		strings.ReplaceAll(url.QueryEscape(s), "+", "%20"),
		(&url.URL{Path: s}).EscapedPath(),
		strings.Trim(string(j), `"`),
		strings.Trim(strings.TrimSpace(plain.String()), `"`),
		html.EscapeString(s),
		strings.Trim(strconv.Quote(s), `"`),
	}
}

// base64Forms are s in the four base64 alphabets, and the runs of characters
// that encode s whatever precedes it, for s inside a longer encoded text.
func base64Forms(s string) []string {
	var forms []string
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(s)), enc.WithPadding(base64.NoPadding).EncodeToString([]byte(s)))
		for shift := range 3 {
			b := append(make([]byte, shift), s...)
			e := enc.WithPadding(base64.NoPadding).EncodeToString(b)
			start := (shift*8 + 5) / 6      // the first character made of s's bits alone
			end := (shift + len(s)) * 8 / 6 // past the last one
			if end-start >= minB64 {
				forms = append(forms, e[start:end])
			}
		}
	}
	return forms
}

var percentHex = regexp.MustCompile(`%[0-9A-F]{2}`)

// lowerHex is s with its percent escapes in lower case, as some servers echo them.
func lowerHex(s string) string { return percentHex.ReplaceAllStringFunc(s, strings.ToLower) }

// String returns s with every shape of every secret masked. A secret that
// begins with the end of Mask ("TEDx") can reappear across a mask, so the
// masking repeats; text that still holds a secret after that is masked whole.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	for range 8 {
		if !r.Contains(s) {
			return s
		}
		for _, f := range r.forms {
			s = strings.ReplaceAll(s, f, Mask)
		}
	}
	if r.Contains(s) {
		return Mask
	}
	return s
}

// Contains reports whether s holds a secret in any of its shapes.
func (r *Redactor) Contains(s string) bool {
	return r != nil && slices.ContainsFunc(r.forms, func(f string) bool { return strings.Contains(s, f) })
}

// Error returns err with the secrets masked in its message; errors.Is and
// errors.As still see the chain. A nil err stays nil.
func (r *Redactor) Error(err error) error {
	if err == nil || r == nil || len(r.forms) == 0 {
		return err
	}
	msg := r.String(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redacted{msg: msg, err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }
