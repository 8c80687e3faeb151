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
	"slices"
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
		why     string // part of the refusal
	}{
		// Public addresses, and public IPv4 through the IPv6 forms that reach it.
		{"93.184.216.34", true, ""},
		{"8.8.8.8", true, ""},
		{"1.1.1.1", true, ""},
		{"223.255.255.255", true, ""},
		{"2606:2800:220:1:248:1893:25c8:1946", true, ""},
		{"2606:4700::1", true, ""},
		{"2a00:1450:4001:82b::200e", true, ""},
		{"::ffff:8.8.8.8", true, ""},
		{"64:ff9b::808:808", true, ""}, // NAT64 of 8.8.8.8

		// IPv4 Special-Purpose Address Registry, first and last of each range.
		{"0.0.0.0", false, "this network"},
		{"0.255.255.255", false, "this network"},
		{"10.0.0.0", false, "private-use"},
		{"10.255.255.255", false, "private-use"},
		{"100.64.0.0", false, "shared"},
		{"100.127.255.255", false, "shared"},
		{"127.0.0.1", false, "loopback"},
		{"127.255.255.254", false, "loopback"},
		{"169.254.169.254", false, "link-local"},
		{"172.16.0.1", false, "private-use"},
		{"172.31.255.255", false, "private-use"},
		{"192.0.0.0", false, "IETF protocol"},
		{"192.0.0.9", false, "IETF protocol"},
		{"192.0.0.170", false, "IETF protocol"},
		{"192.0.0.255", false, "IETF protocol"},
		{"192.0.2.1", false, "TEST-NET-1"},
		{"192.31.196.1", false, "AS112"},
		{"192.52.193.1", false, "AMT"},
		{"192.88.99.1", false, "6to4 relay"},
		{"192.168.0.1", false, "private-use"},
		{"192.168.255.255", false, "private-use"},
		{"192.175.48.1", false, "AS112"},
		{"198.18.0.0", false, "benchmarking"},
		{"198.19.255.255", false, "benchmarking"},
		{"198.51.100.7", false, "TEST-NET-2"},
		{"203.0.113.7", false, "TEST-NET-3"},
		{"224.0.0.1", false, "multicast"},
		{"239.255.255.255", false, "multicast"},
		{"240.0.0.1", false, "reserved"},
		{"255.255.255.255", false, "broadcast"},
		// Just outside some ranges.
		{"100.63.255.255", true, ""},
		{"100.128.0.0", true, ""},
		{"172.32.0.0", true, ""},
		{"198.17.255.255", true, ""},
		{"198.20.0.0", true, ""},
		{"192.0.1.1", true, ""},

		// IPv6 Special-Purpose Address Registry.
		{"::", false, "unspecified"},
		{"::1", false, "loopback"},
		{"64:ff9b:1::1", false, "local-use"},
		{"100::1", false, "discard"},
		{"100:0:0:1::1", false, "dummy"},
		{"2001::1", false, "Teredo"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false, "Teredo"},
		{"2001:1::1", false, "anycast"},
		{"2001:2::1", false, "benchmarking"},
		{"2001:3::1", false, "AMT"},
		{"2001:4:112::1", false, "AS112"},
		{"2001:10::1", false, "ORCHID"},
		{"2001:20::1", false, "ORCHIDv2"},
		{"2001:2f:ffff::1", false, "ORCHIDv2"},
		{"2001:30::1", false, "drone"},
		{"2001:1ff::1", false, "IETF protocol"},
		{"2001:db8::1", false, "documentation"},
		{"2002:808:808::1", false, "6to4"}, // even of a public IPv4: any relay may answer
		{"2620:4f:8000::1", false, "AS112"},
		{"3fff::1", false, "documentation"},
		{"3fff:fff::1", false, "documentation"},
		{"5f00::1", false, "segment routing"},
		{"fc00::1", false, "unique-local"},
		{"fd00:ec2::254", false, "unique-local"},
		{"fe80::1", false, "link-local"},
		{"fe80::1%eth0", false, "link-local"},
		{"febf::1", false, "link-local"},
		{"fec0::1", false, "site-local"},
		{"ff02::1", false, "multicast"},
		{"ff0e::1", false, "multicast"},
		// Outside 2000::/3, whatever else.
		{"4000::1", false, "outside 2000::/3"},
		{"e000::1", false, "outside 2000::/3"},
		{"200::1", false, "outside 2000::/3"},
		// Just outside some ranges.
		{"2001:200::1", true, ""},
		{"2620:4f:8001::1", true, ""},
		{"3fff:1000::1", true, ""},

		// IPv4 embedded in IPv6, mapped to private and special addresses.
		{"::ffff:127.0.0.1", false, "loopback"},
		{"::ffff:10.0.0.1", false, "private-use"},
		{"::ffff:169.254.169.254", false, "link-local"},
		{"::127.0.0.1", false, "IPv4-compatible"},
		{"::10.0.0.1", false, "IPv4-compatible"},
		{"::8.8.8.8", false, "IPv4-compatible"},
		{"::ffff:0:127.0.0.1", false, "SIIT"},
		{"::ffff:0:10.0.0.1", false, "SIIT"},
		{"64:ff9b::7f00:1", false, "NAT64 address (RFC 6052) of 127.0.0.1, a loopback address"},
		{"64:ff9b::a9fe:a9fe", false, "169.254.169.254"},
		{"64:ff9b::10.1.2.3", false, "private-use"},
		{"64:ff9b::100.64.0.1", false, "shared"},
		{"2002:a00:1::1", false, "6to4"},
		{"2002:7f00:1::1", false, "6to4"},
		{"2001:0:7f00:1::1", false, "Teredo"},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			err := CheckAddr(netip.MustParseAddr(tt.ip))
			if (err == nil) != tt.allowed {
				t.Fatalf("CheckAddr(%s) = %v, want allowed=%v", tt.ip, err, tt.allowed)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("error %v does not wrap ErrForbiddenAddress", err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %q, want it to say %q", err, tt.why)
			}
		})
	}
	if err := CheckAddr(netip.Addr{}); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("the zero Addr: %v", err)
	}
}

// Every range of the tables is refused from its first address to its last.
func TestCheckAddrTables(t *testing.T) {
	for _, s := range append(slices.Clone(ipv4Special), ipv6Special...) {
		first := s.prefix.Masked().Addr()
		last := lastAddr(s.prefix)
		for _, ip := range []netip.Addr{first, last} {
			if err := CheckAddr(ip); err == nil {
				t.Errorf("%s (%s of %s) allowed", ip, s.name, s.prefix)
			}
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
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
		{"mapped loopback literal", "http://[::ffff:127.0.0.1]:" + port + "/", ErrForbiddenAddress},
		{"IPv6 loopback literal", "http://[::1]:" + port + "/", ErrForbiddenAddress},
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

// FuzzCheckAddr checks any address: no panic, and an IPv4 address is judged the
// same bare, mapped into IPv6 and behind the NAT64 prefix.
func FuzzCheckAddr(f *testing.F) {
	for _, ip := range []string{"8.8.8.8", "10.0.0.1", "::1", "2606:4700::1", "64:ff9b::a00:1", "2001::1", "fec0::1"} {
		b := netip.MustParseAddr(ip).As16()
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		err := CheckAddr(ip)
		if !ok {
			if err == nil {
				t.Fatalf("invalid address %v allowed", b)
			}
			return
		}
		if err != nil && !errors.Is(err, ErrForbiddenAddress) {
			t.Fatalf("error %v does not wrap ErrForbiddenAddress", err)
		}
		if !ip.Is4() {
			return
		}
		v4 := ip.As4()
		mapped := netip.AddrFrom16(netip.MustParseAddr("::ffff:0.0.0.0").As16())
		m := mapped.As16()
		copy(m[12:], v4[:])
		n := netip.MustParseAddr("64:ff9b::").As16()
		copy(n[12:], v4[:])
		for _, other := range []netip.Addr{netip.AddrFrom16(m), netip.AddrFrom16(n)} {
			if (CheckAddr(other) == nil) != (err == nil) {
				t.Fatalf("%s allowed %v, %s allowed %v", ip, err == nil, other, CheckAddr(other) == nil)
			}
		}
	})
}
