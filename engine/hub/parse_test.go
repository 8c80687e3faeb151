package hub

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readResponse parses a whole response head (and body) as the client would
// have received it for a request to the hub.
func readResponse(method string, raw []byte) (*http.Response, error) {
	req, _ := http.NewRequest(method, "https://huggingface.co/TheBloke/tiny-GPTQ/resolve/main/x", nil)
	return http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), req)
}

func TestParseResponses(t *testing.T) {
	data, err := os.ReadFile("testdata/listing.json")
	if err != nil {
		t.Fatal(err)
	}
	l, err := parseListing(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if l.SHA != "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c" || len(l.Siblings) != 8 ||
		l.Siblings[3].size() != 3896278688 || l.Siblings[2].size() != 742 {
		t.Errorf("listing %+v", l)
	}

	ref := Ref{"TheBloke/tiny-GPTQ", "main"}
	tests := []struct {
		file   string
		meta   meta
		kind   error // of the error answer; nil for none
		status int
	}{
		{"head_lfs.http", meta{"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c", "9e2f8c1d7b6a5e4f3c2b1a0d9e8f7c6b5a4d3e2f1c0b9a8e7d6c5b4a3f2e1d0c", 3896278688}, nil, 302},
		{"head_plain.http", meta{"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c", "b5d2c1a0e9f8d7c6b5a4938271605f4e3d2c1b0a", 742}, nil, 200},
		{"head_renamed.http", meta{"", "", -1}, nil, 307},
		{"head_gated.http", meta{}, ErrGated, 401},
		{"get_missing.http", meta{}, ErrEntryNotFound, 404},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			method := http.MethodHead
			if strings.HasPrefix(tt.file, "get_") {
				method = http.MethodGet
			}
			resp, err := readResponse(method, raw)
			if err != nil {
				t.Fatal(err)
			}
			err = checkResponse(ref, resp)
			if tt.kind != nil {
				var he *Error
				if !errors.As(err, &he) || !errors.Is(err, tt.kind) || he.Status != tt.status || he.Message == "" {
					t.Errorf("checkResponse = %v, want %v with a message", err, tt.kind)
				}
				return
			}
			if err != nil || resp.StatusCode != tt.status {
				t.Fatalf("checkResponse = %v, status %d", err, resp.StatusCode)
			}
			if m := parseMeta(resp.StatusCode, resp.Header); m != tt.meta {
				t.Errorf("meta %+v, want %+v", m, tt.meta)
			}
		})
	}
	raw, _ := os.ReadFile("testdata/get_range.http")
	resp, err := readResponse(http.MethodGet, raw)
	if err != nil {
		t.Fatal(err)
	}
	if start, err := rangeStart(resp.Header.Get("Content-Range")); err != nil || start != 3896278588 {
		t.Errorf("rangeStart = %d, %v", start, err)
	}
}

func TestParseListingRefuses(t *testing.T) {
	const sha = `"sha":"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"`
	for body, want := range map[string]string{
		`{"sha":"main","siblings":[]}`:                                                                              "40-digit",
		`{` + sha + `,"siblings":[{"rfilename":"../x"}]}`:                                                           "not a path inside",
		`{` + sha + `,"siblings":[{"rfilename":"a"},{"rfilename":"a"}]}`:                                            "listed twice",
		`{` + sha + `,"siblings":[{"rfilename":"a","size":-1}]}`:                                                    "negative size",
		`{` + sha + `,"siblings":[{"rfilename":"a","lfs":{"sha256":"../../x","size":1}}]}`:                          "not 64 hex",
		`{` + sha + `,"siblings":[{"rfilename":"a","lfs":{"sha256":"` + strings.Repeat("a", 64) + `","size":-5}}]}`: "negative size",
		`{` + sha + `,"siblings":`:                                                                                  "unexpected end",
		strings.Repeat(" ", maxListing+1):                                                                           "larger than",
	} {
		if _, err := parseListing(strings.NewReader(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseListing(%.60q) = %v, want %q", body, err, want)
		}
	}
}

// FuzzListing feeds any body to the listing reader: no panic, and what it
// accepts is what the pull relies on.
func FuzzListing(f *testing.F) {
	data, err := os.ReadFile("testdata/listing.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"sha":"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c","siblings":[{"rfilename":"a/b.json","size":3}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		l, err := parseListing(bytes.NewReader(body))
		if err != nil {
			return
		}
		if !isCommit(l.SHA) {
			t.Fatalf("accepted commit %q", l.SHA)
		}
		seen := map[string]bool{}
		for _, s := range l.Siblings {
			if !localPath(s.Name) || seen[s.Name] || s.size() < -1 || (s.LFS != nil && !etagRE.MatchString(s.LFS.SHA256)) {
				t.Fatalf("accepted sibling %+v", s)
			}
			seen[s.Name] = true
			Match(DefaultInclude, s.Name)
		}
	})
}

// FuzzResponseHead feeds any response head to what reads the hub's headers:
// error answers, file metadata and Content-Range. No panic, and the values
// kept are in range.
func FuzzResponseHead(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.http")
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	ref := Ref{"TheBloke/tiny-GPTQ", "main"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		resp, err := readResponse(http.MethodGet, raw)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		err = checkResponse(ref, resp)
		var he *Error
		if (resp.StatusCode >= 400) != errors.As(err, &he) {
			t.Fatalf("status %d gave %v", resp.StatusCode, err)
		}
		if he != nil && !strings.Contains(he.Error(), ref.String()) {
			t.Fatalf("error %q does not name the reference", he.Error())
		}
		m := parseMeta(resp.StatusCode, resp.Header)
		if m.Size < -1 || strings.HasPrefix(m.ETag, `"`) || strings.HasSuffix(m.ETag, `"`) {
			t.Fatalf("meta %+v", m)
		}
		if start, err := rangeStart(resp.Header.Get("Content-Range")); err == nil && start < 0 {
			t.Fatalf("Content-Range %q gave start %d", resp.Header.Get("Content-Range"), start)
		}
	})
}
