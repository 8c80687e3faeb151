// Package scrape is the TextScraper tool and the safe fetching every web tool uses:
// per-request timeouts, a redirect cap with the scheme re-checked, a body cap,
// accepted content types, charset decoding, a per-host rate limit, an honest
// User-Agent, robots.txt by option, and refusal of loopback, private, link-local
// (cloud metadata), multicast and unspecified addresses after DNS resolution unless
// allowed. Readable text comes from go-readability with a goquery fallback.
package scrape
