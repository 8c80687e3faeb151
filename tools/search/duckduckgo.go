package search

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/time/rate"

	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/fetch"
)

// DuckDuckGo searches through DuckDuckGo's HTML endpoint, politely: a burst of a few
// requests, then about one every 1.5 s, and no request at all for a while after the
// engine blocks one.
type DuckDuckGo struct {
	endpoint  string
	region    string
	userAgent string
	client    *http.Client
	limiter   *rate.Limiter
	backoff   time.Duration

	mu           sync.Mutex
	blockedUntil time.Time
}

var _ Backend = (*DuckDuckGo)(nil)

// DuckDuckGoOptions configure NewDuckDuckGo; zero values take the defaults named.
type DuckDuckGoOptions struct {
	URL       string        // the endpoint (https://html.duckduckgo.com/html/)
	Region    string        // the kl parameter, e.g. "wt-wt", "us-en"; "" for none
	UserAgent string        // sent with each request
	Timeout   time.Duration // a whole search (20 s)
	Every     time.Duration // the sustained interval between requests (1.5 s)
	Burst     int           // requests allowed at once (8)
	Backoff   time.Duration // pause after a block (60 s)
	// MaxRedirects and AllowPrivateNetworks apply to redirects as in the
	// fetcher (5, off); the endpoint itself may be local: its URL is the user's.
	MaxRedirects         int
	AllowPrivateNetworks bool
	// Client replaces the guarded client the fields above make (for tests).
	Client *http.Client
}

// DefaultDuckDuckGoURL is DuckDuckGo's no-JavaScript endpoint.
const DefaultDuckDuckGoURL = "https://html.duckduckgo.com/html/"

// maxQuery is the longest query DuckDuckGo accepts, in characters.
const maxQuery = 499

// NewDuckDuckGo returns a DuckDuckGo backend.
func NewDuckDuckGo(o DuckDuckGoOptions) *DuckDuckGo {
	if o.URL == "" {
		o.URL = DefaultDuckDuckGoURL
	}
	if o.Client == nil {
		var endpoints []string // DuckDuckGo's own is public: no exemption for it
		if o.URL != DefaultDuckDuckGoURL {
			endpoints = []string{o.URL}
		}
		o.Client = fetch.NewClient(fetch.ClientOptions{Timeout: o.Timeout, MaxRedirects: o.MaxRedirects,
			AllowPrivate: o.AllowPrivateNetworks, Endpoints: endpoints})
	}
	if o.Every <= 0 {
		o.Every = 1500 * time.Millisecond
	}
	if o.Burst <= 0 {
		o.Burst = 8
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Minute
	}
	return &DuckDuckGo{
		endpoint:  o.URL,
		region:    o.Region,
		userAgent: o.UserAgent,
		client:    o.Client,
		limiter:   rate.NewLimiter(rate.Every(o.Every), o.Burst),
		backoff:   o.Backoff,
	}
}

func (*DuckDuckGo) Engine() string { return "DuckDuckGo" }

// Search posts the query form and parses the result page. A block page is
// ErrBlocked, and so is every request in the back-off period that follows it.
func (d *DuckDuckGo) Search(ctx context.Context, query string) ([]Result, error) {
	if wait := d.blockedFor(); wait > 0 {
		return nil, fmt.Errorf("%w (backing off for %s)", ErrBlocked, wait.Round(time.Second))
	}
	if err := d.limiter.Wait(ctx); err != nil {
		return nil, err
	}
	form := url.Values{"q": {truncateQuery(query)}}
	if d.region != "" {
		form.Set("kl", d.region)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	if d.userAgent != "" {
		req.Header.Set("User-Agent", d.userAgent)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusForbidden {
		d.block()
		return nil, fmt.Errorf("%w (HTTP %s)", ErrBlocked, resp.Status)
	}
	if resp.StatusCode >= 500 {
		return nil, tools.Transient(fmt.Errorf("HTTP %s", resp.Status))
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	results, err := ParseDuckDuckGo(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode == http.StatusAccepted && !errors.Is(err, ErrBlocked) {
		// 202 is how DuckDuckGo answers a request it suspects, whatever the page.
		err = fmt.Errorf("%w (HTTP 202)", ErrBlocked)
	}
	if errors.Is(err, ErrBlocked) {
		d.block()
	}
	if err != nil {
		return nil, err
	}
	return results, nil
}

func (d *DuckDuckGo) block() {
	d.mu.Lock()
	d.blockedUntil = time.Now().Add(d.backoff)
	d.mu.Unlock()
}

func (d *DuckDuckGo) blockedFor() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return time.Until(d.blockedUntil)
}

// truncateQuery keeps the query within DuckDuckGo's limit, cutting at a word.
func truncateQuery(q string) string {
	r := []rune(q)
	if len(r) <= maxQuery {
		return q
	}
	cut := string(r[:maxQuery])
	if i := strings.LastIndexByte(cut, ' '); i > maxQuery/2 {
		cut = cut[:i]
	}
	return cut
}

// ParseDuckDuckGo reads a result page of the HTML endpoint: the web results in
// order, ads skipped, redirect links unwrapped. A block (CAPTCHA) page is ErrBlocked;
// a page with neither results nor a no-results notice is an error, so a changed
// layout is noticed rather than read as "nothing found".
func ParseDuckDuckGo(r io.Reader) ([]Result, error) {
	doc, err := goquery.NewDocumentFromReader(r)
	if err != nil {
		return nil, fmt.Errorf("parsing the result page: %w", err)
	}
	if doc.Find(".anomaly-modal__mask, [data-testid=anomaly-modal], #challenge-form").Length() > 0 {
		return nil, ErrBlocked
	}
	var results []Result
	doc.Find("#links div.web-result").Each(func(_ int, s *goquery.Selection) {
		if s.HasClass("result--ad") {
			return
		}
		a := s.Find("a.result__a").First()
		href, _ := a.Attr("href")
		u := unwrap(href)
		if u == "" {
			return
		}
		results = append(results, Result{
			Title:   strings.TrimSpace(a.Text()),
			URL:     u,
			Snippet: strings.TrimSpace(s.Find(".result__snippet").First().Text()),
		})
	})
	if len(results) == 0 {
		if doc.Find(".no-results, .result--no-result").Length() > 0 {
			return nil, ErrNoResults
		}
		return nil, fmt.Errorf("%w: no results and no no-results notice on the page (has DuckDuckGo's layout changed?)", ErrNoResults)
	}
	return results, nil
}

// unwrap turns DuckDuckGo's //duckduckgo.com/l/?uddg=URL redirect into URL and
// drops links back into DuckDuckGo (ads, internal pages).
func unwrap(href string) string {
	u, err := url.Parse(strings.TrimSpace(href))
	if err != nil {
		return ""
	}
	host := strings.TrimPrefix(u.Hostname(), "www.")
	if host == "duckduckgo.com" || host == "html.duckduckgo.com" || host == "" {
		target := u.Query().Get("uddg")
		if target == "" {
			return ""
		}
		return target
	}
	return u.String()
}
