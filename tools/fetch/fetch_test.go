package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rewoo-agent/agent/tools"
)

// allowing returns a fetcher that refuses non-public addresses except the test
// servers' own, so a redirect out of them meets the real guard.
func allowing(t *testing.T, o Options, servers ...*httptest.Server) *Fetcher {
	t.Helper()
	for _, s := range servers {
		o.Endpoints = append(o.Endpoints, s.URL)
	}
	return New(o)
}

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		ip      string
		allowed bool
	}{
		{"93.184.216.34", true},
		{"2606:2800:220:1:248:1893:25c8:1946", true},
		{"8.8.8.8", true},
		{"127.0.0.1", false},
		{"127.9.9.9", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"fd00:ec2::254", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"100.64.0.1", false},
		{"255.255.255.255", false},
		{"64:ff9b::7f00:1", false},    // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false}, // NAT64 of 169.254.169.254
		{"64:ff9b::808:808", true},    // NAT64 of 8.8.8.8
		{"2002:a00:1::1", false},      // 6to4 of 10.0.0.1
		{"2002:808:808::1", true},     // 6to4 of 8.8.8.8
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			err := CheckAddr(netip.MustParseAddr(tt.ip))
			if (err == nil) != tt.allowed {
				t.Fatalf("CheckAddr(%s) = %v, want allowed=%v", tt.ip, err, tt.allowed)
			}
			if err != nil && !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("error %v does not wrap ErrForbiddenAddress", err)
			}
			if err != nil && strings.Contains(err.Error(), " a unspecified") {
				t.Errorf("error %q: wrong article", err)
			}
		})
	}
}

func TestFetchRefusesPrivateAddresses(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "private data")
	}))
	defer ok.Close()
	_, port, _ := net.SplitHostPort(ok.Listener.Addr().String())
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-loopback":
			http.Redirect(w, r, ok.URL+"/secret", http.StatusFound)
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusMovedPermanently)
		case "/chain":
			http.Redirect(w, r, "/to-metadata", http.StatusFound)
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		}
	}))
	defer redirector.Close()

	tests := []struct {
		name, url string
		want      error
	}{
		{"loopback", ok.URL, ErrForbiddenAddress},
		{"localhost resolved", "http://localhost:" + port + "/", ErrForbiddenAddress},
		{"redirect into 127.0.0.1", redirector.URL + "/to-loopback", ErrForbiddenAddress},
		{"redirect into metadata", redirector.URL + "/to-metadata", ErrForbiddenAddress},
		{"redirect chain into metadata", redirector.URL + "/chain", ErrForbiddenAddress},
		{"metadata directly", "http://169.254.169.254/latest/meta-data/", ErrForbiddenAddress},
		{"redirect to file", redirector.URL + "/to-file", nil},
	}
	f := allowing(t, Options{Timeout: 5 * time.Second}, redirector)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.Fetch(context.Background(), tt.url)
			if err == nil {
				t.Fatal("fetch succeeded, want a refusal")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tools.IsTransient(err) {
				t.Errorf("refusal %v is marked transient", err)
			}
		})
	}

	// The same loopback URL works once private networks are allowed.
	p, err := New(Options{AllowPrivate: true}).Fetch(context.Background(), redirector.URL+"/to-loopback")
	if err != nil {
		t.Fatalf("with AllowPrivate: %v", err)
	}
	if p.Text != "private data" || p.URL != ok.URL+"/secret" {
		t.Errorf("page = %q at %s", p.Text, p.URL)
	}
}

func TestFetchRedirectCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(r.URL.Path, "/r/%d", &n)
		if n == 0 {
			fmt.Fprint(w, "arrived")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusFound)
	}))
	defer srv.Close()
	f := New(Options{AllowPrivate: true, MaxRedirects: 3})
	if p, err := f.Fetch(context.Background(), srv.URL+"/r/3"); err != nil || p.Text != "arrived" {
		t.Fatalf("3 redirects: %v %v", p, err)
	}
	_, err := f.Fetch(context.Background(), srv.URL+"/r/4")
	if err == nil || !strings.Contains(err.Error(), "stopped after 3 redirects") {
		t.Fatalf("4 redirects: err = %v", err)
	}
}

func TestFetchCharsets(t *testing.T) {
	tests := []struct {
		file, contentType, want, wantTitle string
	}{
		{"windows1252.html", "text/html; charset=windows-1252", "Crème brûlée — €5 at the café.", "Café crème"},
		{"windows1252.html", "text/html", "Crème brûlée — €5 at the café.", "Café crème"}, // no charset anywhere: the WHATWG default
		{"shift_jis.html", "text/html", "今日の東京は晴れです。", "東京の天気"},                           // from the meta tag
		{"shift_jis.html", "text/html; charset=Shift_JIS", "今日の東京は晴れです。", "東京の天気"},
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+tt.contentType, func(t *testing.T) {
			body, err := os.ReadFile("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.Write(body)
			}))
			defer srv.Close()
			p, err := New(Options{AllowPrivate: true}).Fetch(context.Background(), srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{tt.want, "<title>" + tt.wantTitle + "</title>"} {
				if !strings.Contains(p.Text, want) {
					t.Errorf("text = %q, want it to contain %q", p.Text, want)
				}
			}
		})
	}
}

func TestFetchLargePageIsCapped(t *testing.T) {
	const total = 50 << 20
	var written atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		chunk := []byte(strings.Repeat("all work and no play makes a dull page\n", 1000))
		for written.Load() < total {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	p, err := New(Options{AllowPrivate: true, MaxBytes: 1 << 20}).Fetch(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Truncated || len(p.Text) != 1<<20 {
		t.Errorf("truncated=%v len=%d, want true and %d", p.Truncated, len(p.Text), 1<<20)
	}
	srv.CloseClientConnections()
	<-done
	if w := written.Load(); w >= total {
		t.Errorf("server wrote all %d bytes: the fetcher read past its cap", w)
	}
}

func TestFetchSlowServerTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()
	start := time.Now()
	_, err := New(Options{AllowPrivate: true, Timeout: 200 * time.Millisecond}).Fetch(context.Background(), srv.URL)
	if err == nil || !strings.Contains(err.Error(), "timed out after 200ms") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if !tools.IsTransient(err) {
		t.Errorf("timeout %v is not transient", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the fetch took %s", time.Since(start))
	}
}

func TestFetchContentTypesAndStatus(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(png)
		case "/sniffed-png":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(png)
		case "/pdf":
			w.Header().Set("Content-Type", "application/pdf")
			w.Write([]byte("%PDF-1.7"))
		case "/sniffed-text":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write([]byte("just some plain words"))
		case "/xhtml":
			w.Header().Set("Content-Type", "application/xhtml+xml")
			w.Write([]byte(`<html xmlns="http://www.w3.org/1999/xhtml"><head><title>X</title></head><body><p>xhtml body</p></body></html>`))
		case "/missing":
			http.NotFound(w, r)
		case "/busy":
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case "/limited":
			http.Error(w, "slow down", http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	tests := []struct {
		path      string
		want      error
		transient bool
		text      string
	}{
		{"/png", ErrContentType, false, ""},
		{"/sniffed-png", ErrContentType, false, ""},
		{"/pdf", ErrContentType, false, ""},
		{"/sniffed-text", nil, false, "just some plain words"},
		{"/xhtml", nil, false, "xhtml body"},
		{"/missing", ErrStatus, false, ""},
		{"/busy", ErrStatus, true, ""},
		{"/limited", ErrStatus, true, ""},
	}
	f := New(Options{AllowPrivate: true})
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := f.Fetch(context.Background(), srv.URL+tt.path)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(p.Text, tt.text) {
					t.Errorf("text = %q, want it to contain %q", p.Text, tt.text)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tools.IsTransient(err) != tt.transient {
				t.Errorf("transient = %v, want %v", tools.IsTransient(err), tt.transient)
			}
		})
	}
}

func TestFetchRejectsOtherSchemes(t *testing.T) {
	f := New(Options{})
	for _, u := range []string{"file:///etc/passwd", "ftp://example.com/", "gopher://x/", "http:///nohost"} {
		if _, err := f.Fetch(context.Background(), u); err == nil {
			t.Errorf("Fetch(%q) succeeded", u)
		}
	}
}

func TestFetchRobots(t *testing.T) {
	var agents atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agents.Store(r.UserAgent())
		if r.URL.Path == "/robots.txt" {
			fmt.Fprint(w, "User-agent: agent\nDisallow: /private\n\nUser-agent: *\nDisallow:\n")
			return
		}
		fmt.Fprint(w, "page "+r.URL.Path)
	}))
	defer srv.Close()
	f := New(Options{AllowPrivate: true, Robots: true})
	if _, err := f.Fetch(context.Background(), srv.URL+"/private/x"); !errors.Is(err, ErrRobots) {
		t.Errorf("disallowed path: err = %v, want ErrRobots", err)
	}
	if p, err := f.Fetch(context.Background(), srv.URL+"/public"); err != nil || p.Text != "page /public" {
		t.Errorf("allowed path: %v, %v", p, err)
	}
	if ua := agents.Load().(string); ua != DefaultUserAgent {
		t.Errorf("User-Agent = %q", ua)
	}
	// Without the option robots.txt is not consulted.
	if _, err := New(Options{AllowPrivate: true}).Fetch(context.Background(), srv.URL+"/private/x"); err != nil {
		t.Errorf("robots off: %v", err)
	}
}

func TestPerHostRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := New(Options{PerHostRate: 2, PerHostBurst: 1})
		ctx := context.Background()
		start := time.Now()
		for range 3 {
			if err := f.wait(ctx, "a.example"); err != nil {
				t.Fatal(err)
			}
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("3 requests at 2/s took %s, want 1s", got)
		}
		// Another host has its own budget.
		start = time.Now()
		if err := f.wait(ctx, "b.example"); err != nil || time.Since(start) != 0 {
			t.Errorf("other host waited %s (%v)", time.Since(start), err)
		}
	})
}
