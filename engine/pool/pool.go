// Package pool spreads generations over several engines, such as the
// OpenAI-compatible servers of a research job (agent serve, one per GPU, or
// others): each generation goes to the healthy member with the fewest in
// flight; a member that fails is set aside for a back-off that doubles with
// each failure in a row, checked with its health probe before it is tried
// again, and a generation it failed before writing any text is sent to
// another member.
package pool

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rewoo-agent/agent/engine"
)

// Member is one engine of a pool.
type Member struct {
	// Name is how messages call it, such as its URL.
	Name string
	LLM  engine.LLM
	// Health, when not nil, checks the member is up before it is tried again
	// after a failure.
	Health func(ctx context.Context) error
}

// Defaults of the back-off.
const (
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = time.Minute
)

// ErrNoMember is returned when every member is down and backing off.
var ErrNoMember = errors.New("no engine of the pool is up")

// Pool is an engine.LLM over its members. It is safe for concurrent use.
type Pool struct {
	// Backoff is the first pause after a failure; MaxBackoff bounds it.
	Backoff, MaxBackoff time.Duration

	mu      sync.Mutex
	members []*member
}

type member struct {
	Member
	inFlight int
	served   int
	failures int // in a row
	downTill time.Time
	lastErr  error
}

var _ engine.LLM = (*Pool)(nil)

// New is a pool of members.
func New(members ...Member) (*Pool, error) {
	if len(members) == 0 {
		return nil, errors.New("a pool needs at least one engine")
	}
	p := &Pool{}
	for _, m := range members {
		p.members = append(p.members, &member{Member: m})
	}
	return p, nil
}

// Stat is what a member did.
type Stat struct {
	Name     string
	InFlight int
	Served   int
	Up       bool
	LastErr  error
}

// Stats is each member's, in the pool's order.
func (p *Pool) Stats() []Stat {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	out := make([]Stat, len(p.members))
	for i, m := range p.members {
		out[i] = Stat{m.Name, m.inFlight, m.served, !now.Before(m.downTill), m.lastErr}
	}
	return out
}

// pick is the least loaded member that is up, not one of tried; probe says
// its back-off has passed and its health must be checked first.
func (p *Pool) pick(tried map[*member]bool) (m *member, probe bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for _, c := range p.members {
		if tried[c] || now.Before(c.downTill) {
			continue
		}
		if m == nil || c.inFlight < m.inFlight || c.inFlight == m.inFlight && c.served < m.served {
			m = c
		}
	}
	if m != nil {
		m.inFlight++
		probe = m.failures > 0
	}
	return m, probe
}

// done settles a generation of m: err, when not nil, is m's failure.
func (p *Pool) done(m *member, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m.inFlight--
	if err == nil {
		m.served++
		m.failures = 0
		return
	}
	m.failures++
	m.lastErr = err
	back := p.Backoff
	if back <= 0 {
		back = DefaultBackoff
	}
	maxBack := p.MaxBackoff
	if maxBack <= 0 {
		maxBack = DefaultMaxBackoff
	}
	for range min(m.failures-1, 20) {
		back *= 2
	}
	m.downTill = time.Now().Add(min(back, maxBack))
}

// errText marks an error onText returned: the caller's, not the member's.
type errText struct{ err error }

func (e errText) Error() string { return e.err.Error() }
func (e errText) Unwrap() error { return e.err }

// Generate sends req to the least loaded member that is up. A member that
// fails before writing text is set aside and the next is tried; once text
// was written, its failure is the generation's.
func (p *Pool) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	tried := map[*member]bool{}
	var errs []error
	for {
		m, probe := p.pick(tried)
		if m == nil {
			if len(errs) == 0 {
				return engine.Result{}, ErrNoMember
			}
			return engine.Result{}, fmt.Errorf("%w: %w", ErrNoMember, errors.Join(errs...))
		}
		tried[m] = true
		if probe && m.Health != nil {
			if err := m.Health(ctx); err != nil {
				if ctx.Err() != nil {
					p.done(m, nil)
					return engine.Result{}, ctx.Err()
				}
				err = fmt.Errorf("%s: health check: %w", m.Name, err)
				p.done(m, err)
				errs = append(errs, err)
				continue
			}
		}
		wrote := false
		res, err := m.LLM.Generate(ctx, req, func(s string) error {
			wrote = true
			if err := onText(s); err != nil {
				return errText{err}
			}
			return nil
		})
		var te errText
		switch {
		case err == nil:
			p.done(m, nil)
			return res, nil
		case errors.As(err, &te):
			p.done(m, nil)
			return res, te.err
		case ctx.Err() != nil:
			p.done(m, nil)
			return res, err
		}
		err = fmt.Errorf("%s: %w", m.Name, err)
		p.done(m, err)
		if wrote {
			return res, err
		}
		errs = append(errs, err)
	}
}

// CountTokens counts with the first member that can.
func (p *Pool) CountTokens(text string) (int, error) {
	for _, m := range p.members {
		if tc, ok := m.LLM.(engine.TokenCounter); ok {
			return tc.CountTokens(text)
		}
	}
	return 0, errors.New("no engine of the pool counts tokens")
}

// ContextLength is the smallest of the members that say theirs; 0 when none does.
func (p *Pool) ContextLength() int {
	n := 0
	for _, m := range p.members {
		if tc, ok := m.LLM.(engine.TokenCounter); ok {
			if c := tc.ContextLength(); n == 0 || c < n {
				n = c
			}
		}
	}
	return n
}

// HTTPHealth is a health probe of an OpenAI-compatible server at base: GET
// base/v1/models answers 200.
func HTTPHealth(base string, client *http.Client) func(ctx context.Context) error {
	if client == nil {
		client = http.DefaultClient
	}
	url := strings.TrimSuffix(strings.TrimRight(base, "/"), "/v1") + "/v1/models"
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}
