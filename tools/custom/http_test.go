package custom

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/rewoo-agent/agent/tools"
)

// secretKey has the characters escaping changes, as base64 keys do.
const secretKey = "c2Vj/cmV0+a2V5%x?y#z=="

// shapes are the forms secretKey may take on its way through a request and back.
func shapes() map[string]string {
	return map[string]string{
		"raw":                  secretKey,
		"path-escaped":         url.PathEscape(secretKey),
		"query-escaped":        url.QueryEscape(secretKey),
		"lower-case hex":       regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(url.PathEscape(secretKey), strings.ToLower),
		"base64":               base64.StdEncoding.EncodeToString([]byte(secretKey)),
		"path-escaped base64":  url.PathEscape(base64.StdEncoding.EncodeToString([]byte(secretKey))),
		"base64 in Basic auth": base64.StdEncoding.EncodeToString([]byte("user:" + secretKey)),
	}
}

// checkHidden fails when text holds secretKey in any of its shapes.
func checkHidden(t *testing.T, what, text string) {
	t.Helper()
	for name, shape := range shapes() {
		if name == "base64 in Basic auth" {
			shape = shape[8:24] // the part that encodes the key alone
		}
		if strings.Contains(text, shape) {
			t.Errorf("%s holds the secret %s (%q):\n%s", what, name, shape, text)
		}
	}
}

// A secret that passes through pathescape, urlquery or json, or that a server
// echoes back in another encoding, is masked in the tool's errors, sources and
// output as much as the raw value is.
func TestHTTPToolMasksSecretShapes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/missing/") {
			http.NotFound(w, r)
			return
		}
		// An API that quotes the request back, as error pages and debug
		// endpoints do.
		body, _ := io.ReadAll(r.Body)
		key := r.URL.Query().Get("key")
		fmt.Fprintf(w, "path %s\nrawpath %s\nquery %s\nbody %s\nheader %s\nb64 %s\nbasic %s\njson %s\n",
			r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, body, r.Header.Get("X-Key"),
			base64.StdEncoding.EncodeToString([]byte(key)), base64.StdEncoding.EncodeToString([]byte("user:"+key)),
			mustJSON(map[string]string{"key": key}))
	}))
	defer srv.Close()
	y := fmt.Sprintf(`tools:
  - name: Missing
    description: A URL with the key in its path.
    http:
      url: '%[1]s/missing/{{ env "API_KEY" | pathescape }}/{{ .Input | pathescape }}'
      secrets: [API_KEY]
      allowed_hosts: [127.0.0.1]
  - name: Echo
    description: Sends the key every way.
    http:
      url: '%[1]s/v1/{{ env "API_KEY" | pathescape }}?key={{ env "API_KEY" | urlquery }}&q={{ .Input | urlquery }}'
      headers:
        X-Key: '{{ env "API_KEY" }}'
      body: '{"key": {{ env "API_KEY" | json }}}'
      secrets: [API_KEY]
      allowed_hosts: [127.0.0.1]
`, srv.URL)
	ts := load(t, y, Options{Environ: []string{"API_KEY=" + secretKey}, AllowPrivateNetworks: true})

	_, err := call(t, ts["Missing"], "x")
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v, want a 404", err)
	}
	checkHidden(t, "the error", err.Error())

	out, err := call(t, ts["Echo"], "q")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Text, "REDACTED") || !strings.Contains(out.Text, "q=q") {
		t.Errorf("output %q", out.Text)
	}
	checkHidden(t, "the output", out.Text)
	checkHidden(t, "the sources", strings.Join(out.Sources, "\n"))
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A tool with secrets must name the hosts they may go to: without allowed_hosts a
// plan choosing the URL would choose who receives the secret.
func TestHTTPToolSecretsNeedAllowedHosts(t *testing.T) {
	var mu sync.Mutex
	var got []string
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("X-Api-Key"))
		mu.Unlock()
		fmt.Fprint(w, "thanks")
	}))
	defer evil.Close()
	port := evil.URL[strings.LastIndex(evil.URL, ":")+1:]
	const noHosts = `tools:
  - name: Api
    description: Calls the URL of the input.
    http:
      url: "{{ .Input }}"
      headers:
        X-Api-Key: '{{ env "API_KEY" }}'
      secrets: [API_KEY]
`
	o := Options{Environ: []string{"API_KEY=s3cr3t"}, AllowPrivateNetworks: true}
	_, err := loadStrict(context.Background(), "tools.yaml", []byte(noHosts), o)
	if err == nil || !strings.Contains(err.Error(), "tools.yaml:8:16: tool Api: secrets need allowed_hosts") {
		t.Errorf("load without allowed_hosts: %v", err)
	}

	// With allowed_hosts, the hosts a plan picks that are not listed, however
	// the URL is dressed, get nothing.
	ts := load(t, noHosts+"      allowed_hosts: [api.example.com]\n", o)
	for _, in := range []string{
		evil.URL + "/",
		"http://localhost:" + port + "/",
		"http://api.example.com@127.0.0.1:" + port + "/",
		"http://api.example.com:" + port + "@localhost:" + port + "/",
		"http://127.0.0.1:" + port + "#@api.example.com/",
	} {
		if _, err := ts["Api"].Call(context.Background(), tools.Request{Input: in}); err == nil {
			t.Errorf("%s: the call went through", in)
		}
	}
	if len(got) > 0 {
		t.Errorf("the plan's host got requests with X-Api-Key %q", got)
	}
}

// A 307 or 308 redirect re-sends the body. When the body holds a secret, such a
// redirect to another origin is refused, even to an allowed host; within the
// origin, or with a body free of secrets, it is followed.
func TestHTTPToolRedirectResendingSecretBody(t *testing.T) {
	var mu sync.Mutex
	bodies := map[string]string{} // path on the other origin -> body received
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies[r.URL.Path] = string(b)
		mu.Unlock()
		fmt.Fprint(w, "other origin")
	}))
	defer other.Close()
	otherPort := other.URL[strings.LastIndex(other.URL, ":")+1:]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/307", "/308", "/302", "/plain-307":
			code := map[string]int{"/307": 307, "/308": 308, "/302": 302, "/plain-307": 307}[r.URL.Path]
			http.Redirect(w, r, "http://localhost:"+otherPort+r.URL.Path, code)
		case "/same-307":
			http.Redirect(w, r, "/landing", http.StatusTemporaryRedirect)
		case "/landing":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "same origin got %d bytes", len(b))
		}
	}))
	defer srv.Close()
	y := fmt.Sprintf(`tools:
  - name: Secret
    description: Posts the key in the body.
    http:
      url: '%[1]s/{{ .Input }}'
      body: '{"key": {{ env "API_KEY" | json }}}'
      secrets: [API_KEY]
      allowed_hosts: [127.0.0.1, localhost]
  - name: Plain
    description: Posts the input.
    http:
      url: '%[1]s/{{ .Input }}'
      body: '{"q": {{ json .Input }}}'
      allowed_hosts: [127.0.0.1, localhost]
`, srv.URL)
	ts := load(t, y, Options{Environ: []string{"API_KEY=s3cr3t"}, AllowPrivateNetworks: true})
	tests := []struct {
		tool, input string
		refused     bool
		text        string
	}{
		{"Secret", "307", true, ""},
		{"Secret", "308", true, ""},
		{"Secret", "302", false, "other origin"}, // becomes a GET without the body
		{"Secret", "same-307", false, "same origin got 17 bytes"},
		{"Plain", "plain-307", false, "other origin"},
	}
	for _, tt := range tests {
		t.Run(tt.tool+tt.input, func(t *testing.T) {
			out, err := call(t, ts[tt.tool], tt.input)
			if tt.refused {
				if err == nil || !strings.Contains(err.Error(), "holds a secret") {
					t.Fatalf("out %q, err %v; want the redirect refused", out.Text, err)
				}
				return
			}
			if err != nil || out.Text != tt.text {
				t.Fatalf("out %q, err %v; want %q", out.Text, err, tt.text)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	for path, b := range bodies {
		if strings.Contains(b, "s3cr3t") {
			t.Errorf("the other origin got the secret at %s: %q", path, b)
		}
	}
	if _, ok := bodies["/plain-307"]; !ok {
		t.Error("the 307 without a secret was not followed")
	}
}

// An allowed_hosts entry that could never match a host is an error at load.
func TestHTTPToolAllowedHostsEntries(t *testing.T) {
	for entry, ok := range map[string]bool{
		"api.example.com":         true,
		"*.example.org":           true,
		"127.0.0.1":               true,
		"::1":                     true,
		"https://api.example.com": false,
		"api.example.com:443":     false,
		"api.example.com/v1":      false,
		"*":                       false,
		"":                        false,
		"user@api.example.com":    false,
		"[::1]":                   false,
	} {
		y := fmt.Sprintf("tools:\n  - name: Get\n    description: Gets.\n    http:\n      url: \"https://api.example.com/{{ .Input }}\"\n      allowed_hosts: [%q]\n", entry)
		_, err := loadStrict(context.Background(), "tools.yaml", []byte(y), Options{})
		if (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "tools.yaml:6:22: tool Get: allowed_hosts entry")) {
			t.Errorf("allowed_hosts [%q]: err = %v, want ok %v", entry, err, ok)
		}
	}
}
