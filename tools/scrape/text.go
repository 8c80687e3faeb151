package scrape

import (
	"net/url"
	"regexp"
	"strings"

	"codeberg.org/readeck/go-readability/v2"
	"codeberg.org/readeck/go-readability/v2/render"
	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"

	"github.com/rewoo-agent/agent/tools/fetch"
)

// minReadable is the length under which readability's pick is distrusted and the
// whole page's text is taken instead.
const minReadable = 200

// Readable returns the title and the readable text of p: for HTML the main content as
// readability finds it, else the page's text without navigation, scripts and forms;
// plain text as it is. Whitespace is tidied either way.
func Readable(p *fetch.Page) (title, text string) {
	if !p.IsHTML() {
		return "", tidy(p.Text)
	}
	doc, err := html.Parse(strings.NewReader(p.Text))
	if err != nil {
		return "", tidy(p.Text)
	}
	gq := goquery.NewDocumentFromNode(doc)
	title = oneLine(gq.Find("title").First().Text())

	u, _ := url.Parse(p.URL)
	if art, err := readability.FromDocument(doc, u); err == nil && art.Node != nil {
		if t := oneLine(art.Title()); t != "" {
			title = t
		}
		if text = tidy(render.InnerText(art.Node)); len(text) >= minReadable {
			return title, text
		}
	}
	return title, fallbackText(gq)
}

// fallbackText is the text of the page's main part with the furniture removed.
func fallbackText(doc *goquery.Document) string {
	doc.Find("script, style, noscript, template, nav, header, footer, aside, form, iframe, svg, button").Remove()
	root := doc.Find("main").First()
	if root.Length() == 0 {
		root = doc.Find("article").First()
	}
	if root.Length() == 0 {
		root = doc.Find("body").First()
	}
	if root.Length() == 0 {
		return tidy(doc.Text())
	}
	return tidy(render.InnerText(root.Nodes[0]))
}

var (
	spaces     = regexp.MustCompile(`[ \t\f\v\p{Zs}]+`)
	blankLines = regexp.MustCompile(`\n{3,}`)
)

// tidy collapses runs of spaces, trims lines and keeps at most one blank line.
func tidy(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(spaces.ReplaceAllString(l, " "))
	}
	return strings.TrimSpace(blankLines.ReplaceAllString(strings.Join(lines, "\n"), "\n\n"))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Cut shortens s to at most max bytes, at a line or word end where one is near,
// never inside a UTF-8 character, and marks the cut.
func Cut(s string, max int) string {
	if max <= 0 || len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !isRuneStart(s[i]) {
		i--
	}
	cut := s[:i]
	if j := strings.LastIndexAny(cut, "\n "); j > max*3/4 {
		cut = cut[:j]
	}
	return strings.TrimSpace(cut) + " [...]"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
