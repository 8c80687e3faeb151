// Package scrape is the TextScraper tool: it fetches the URLs of its input through
// the guarded fetcher (package fetch) and keeps each page's readable text, from
// go-readability with a goquery fallback. URL passwords never appear in what it
// returns: text, errors and sources show them masked.
package scrape
