package search

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// DefaultPause is how long Fallback leaves a backend alone after it blocked a
// request.
const DefaultPause = time.Minute

// Fallback searches with the first of its backends that is not paused: one
// that blocks a request (ErrBlocked) is paused for Pause, for every query the
// process makes (a batch's next questions included), and the query goes to the
// next. When every backend is blocked or paused the error wraps ErrBlocked and
// names each. Other errors, such as no results, are the answer: they do not
// fall over. It is safe for concurrent use; share one for the whole process.
type Fallback struct {
	backends []Backend
	pause    time.Duration

	mu    sync.Mutex
	until []time.Time // per backend: paused until then
}

var _ Backend = (*Fallback)(nil)

// NewFallback returns a Fallback over backends, tried in order; a pause <= 0 is
// DefaultPause.
func NewFallback(pause time.Duration, backends ...Backend) *Fallback {
	if pause <= 0 {
		pause = DefaultPause
	}
	return &Fallback{backends: backends, pause: pause, until: make([]time.Time, len(backends))}
}

// Engine names the backends in order, "DuckDuckGo, then SearXNG".
func (f *Fallback) Engine() string {
	names := make([]string, len(f.backends))
	for i, b := range f.backends {
		names[i] = b.Engine()
	}
	return strings.Join(names, ", then ")
}

// Search asks each backend in turn until one answers other than blocked.
func (f *Fallback) Search(ctx context.Context, query string) ([]Result, error) {
	if len(f.backends) == 0 {
		return nil, errors.New("no search backend configured")
	}
	var why []string
	for i, b := range f.backends {
		if wait := f.pausedFor(i); wait > 0 {
			why = append(why, fmt.Sprintf("%s blocked (paused for %s)", b.Engine(), wait.Round(time.Second)))
			continue
		}
		res, err := b.Search(ctx, query)
		if !errors.Is(err, ErrBlocked) {
			if err != nil && len(f.backends) > 1 {
				err = fmt.Errorf("%s: %w", b.Engine(), err)
			}
			return res, err
		}
		f.block(i)
		why = append(why, fmt.Sprintf("%s: %v", b.Engine(), err))
	}
	return nil, fmt.Errorf("%w: %s", ErrBlocked, strings.Join(why, "; "))
}

func (f *Fallback) pausedFor(i int) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Until(f.until[i])
}

func (f *Fallback) block(i int) {
	f.mu.Lock()
	f.until[i] = time.Now().Add(f.pause)
	f.mu.Unlock()
}
