package corpus

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/rewoo-agent/agent/tools/fetch"
	"github.com/rewoo-agent/agent/tools/scrape"
)

// Document is one indexed file.
type Document struct {
	URL   string // from the front matter, else the file's file:// URL
	Path  string // slash-separated, relative to the folder
	Title string
	Text  string // the text without front matter; an HTML file's readable text
}

// Reasons a file is not indexed.
var (
	ErrBinary   = errors.New("binary or not UTF-8")
	ErrTooLarge = errors.New("file too large")
	ErrBadURL   = errors.New("front matter url is not a URL")
	ErrEmptyDoc = errors.New("no text")
)

// extensions are the files indexed, by kind.
var extensions = map[string]string{
	".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text",
	".html": "html", ".htm": "html",
}

// maxFrontMatter bounds the front matter block read as YAML.
const maxFrontMatter = 16 << 10

// parse turns a file's bytes into a document. rel is its slash path in the folder,
// fileURL its file:// URL.
func parse(rel, fileURL string, data []byte) (Document, error) {
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return Document{}, ErrBinary
	}
	d := Document{URL: fileURL, Path: rel}
	text := string(data)
	if extensions[strings.ToLower(path.Ext(rel))] == "html" {
		title, readable := scrape.Readable(&fetch.Page{URL: fileURL, ContentType: "text/html", Text: text})
		d.Title, d.Text = oneLine(title), readable
	} else {
		var meta frontMatter
		meta, text = splitFrontMatter(text)
		if u := cmp.Or(meta.URL, meta.ID); u != "" {
			if !validURL(u) {
				return Document{}, fmt.Errorf("%w: %q", ErrBadURL, u)
			}
			d.URL = u
		}
		d.Title = oneLine(meta.Title)
		d.Text = strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
		if d.Title == "" {
			d.Title = firstHeading(d.Text)
		}
		// A heading that only repeats the title is dropped from the text.
		if first, rest, _ := strings.Cut(d.Text, "\n"); d.Title != "" && oneLine(strings.TrimLeft(first, "#")) == d.Title && strings.HasPrefix(first, "#") {
			d.Text = strings.TrimSpace(rest)
		}
	}
	if strings.TrimSpace(d.Text) == "" && d.Title == "" {
		return Document{}, ErrEmptyDoc
	}
	if d.Title == "" {
		d.Title = oneLine(strings.TrimSuffix(path.Base(rel), path.Ext(rel)))
	}
	if d.Title == "" {
		d.Title = cmp.Or(oneLine(path.Base(rel)), "untitled")
	}
	d.Title = strings.ToValidUTF8(d.Title, "\uFFFD") // a file name need not be UTF-8
	return d, nil
}

type frontMatter struct {
	URL   string `yaml:"url"`
	ID    string `yaml:"id"`
	Title string `yaml:"title"`
}

// splitFrontMatter takes a leading "---" YAML block off text. A block that does not
// close, is too long or is not YAML of strings is left in the text as it is.
func splitFrontMatter(text string) (frontMatter, string) {
	rest, ok := strings.CutPrefix(text, "---\n")
	if !ok {
		if rest, ok = strings.CutPrefix(text, "---\r\n"); !ok {
			return frontMatter{}, text
		}
	}
	end := -1
	for i := 0; i < len(rest) && i <= maxFrontMatter; {
		j := strings.IndexByte(rest[i:], '\n')
		line := rest[i:]
		if j >= 0 {
			line = rest[i : i+j]
		}
		if strings.TrimRight(line, "\r") == "---" {
			end = i
			break
		}
		if j < 0 {
			break
		}
		i += j + 1
	}
	if end < 0 {
		return frontMatter{}, text
	}
	var m frontMatter
	if err := yaml.Unmarshal([]byte(rest[:end]), &m); err != nil {
		return frontMatter{}, text
	}
	body := rest[end+3:]
	body = strings.TrimPrefix(strings.TrimPrefix(body, "\r"), "\n")
	return m, body
}

// firstHeading is the text of the first Markdown heading, or of a short first line.
func firstHeading(text string) string {
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if h := strings.TrimLeft(line, "#"); h != line && (h == "" || h[0] == ' ') {
			return oneLine(h)
		}
		if len(line) <= 80 {
			return oneLine(line)
		}
		return ""
	}
	return ""
}

// validURL accepts an absolute URL with a scheme and no spaces, as a document's id.
func validURL(s string) bool {
	if len(s) > 2048 || strings.ContainsAny(s, " \t\r\n<>\"") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && (u.Host != "" || u.Path != "" || u.Opaque != "")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
