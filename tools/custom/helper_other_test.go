//go:build !unix

package custom

// start has no sessions to start a helper in here.
func start(bool) int { panic("no setsid here") }
