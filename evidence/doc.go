// Package evidence holds the values a plan's steps produce and runs plans: whole-
// reference substitution of earlier evidence into inputs, provenance (tool, resolved
// input, timing, sources), trimming to a budget, and the resolver that starts every
// step the moment its references are resolved.
package evidence
