package queue

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rewoo-agent/agent/tools"
)

// ErrUnknownOutcome fails a step whose side-effecting call was started before
// a worker died: whether it took effect is unknown, so it is not made again.
var ErrUnknownOutcome = errors.New("the call was made before its worker died and its outcome is unknown; it is not made again")

// Tools wraps the tools of reg by spec's settings: a tool with a ttl is served
// from the queue's cache of tool results, shared by every worker and job; a
// tool with side effects gets an idempotency key per question and step and is
// never called twice for one step. The others are as they were.
func (q *Queue) Tools(spec Spec, reg *tools.Registry) (*tools.Registry, error) {
	for name := range spec.Tools.Settings {
		if _, err := reg.Get(name); err != nil {
			return nil, fmt.Errorf("tools.settings: %w", err)
		}
	}
	out, err := tools.NewRegistry()
	if err != nil {
		return nil, err
	}
	for _, name := range reg.Names() {
		t, _ := reg.Get(name)
		s := spec.Tools.Settings[name]
		switch {
		case s.SideEffects:
			t = &guardedTool{Tool: t, q: q}
		case s.TTL > 0:
			t = &cachedTool{Tool: t, q: q, ttl: s.TTL}
		}
		if err := out.Add(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cachedTool serves a tool's results from the cache for its time to live,
// keyed by the tool and its resolved input. Failed calls are not cached.
type cachedTool struct {
	tools.Tool
	q   *Queue
	ttl time.Duration
}

var _ tools.Tool = (*cachedTool)(nil)

func (t *cachedTool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	sum := sha256.Sum256([]byte(req.Input))
	key := hex.EncodeToString(sum[:])
	out, ok, err := t.cached(ctx, key)
	if err != nil {
		return tools.Output{}, err
	}
	if !ok {
		// The questions of this process that want the same result at once wait
		// for one call. A flight that ended between the lookup above and this one
		// has filled the cache, so the flight looks again before it calls.
		called := false
		var v any
		v, err, _ = t.q.flight.Do(t.Name()+"\x00"+key, func() (any, error) {
			if out, ok, err := t.cached(ctx, key); err != nil || ok {
				return out, err
			}
			called = true
			out, err := t.Tool.Call(ctx, req)
			if err != nil {
				return out, err
			}
			if enc, err := json.Marshal(out); err == nil {
				// A result the cache cannot keep is still the answer of this call.
				_, _ = t.q.b.exec(context.WithoutCancel(ctx), `INSERT INTO agent_research_cache (tool, input_hash, output, expires_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (tool, input_hash) DO UPDATE SET output = excluded.output, expires_at = excluded.expires_at`,
					t.Name(), key, string(enc), time.Now().Add(t.ttl).UnixMilli())
			}
			return out, nil
		})
		out, _ = v.(tools.Output)
		if called || err != nil {
			return out, err
		}
	}
	if c := callOf(ctx); c != nil {
		c.hits.Add(1)
	}
	return out, nil
}

// cached is the cache's live result for key, if it has one that decodes.
func (t *cachedTool) cached(ctx context.Context, key string) (tools.Output, bool, error) {
	var data string
	err := t.q.b.db.QueryRowContext(ctx, t.q.b.q(`SELECT output FROM agent_research_cache WHERE tool = $1 AND input_hash = $2 AND expires_at > $3`),
		t.Name(), key, time.Now().UnixMilli()).Scan(&data)
	switch {
	case err == nil:
		var out tools.Output
		if json.Unmarshal([]byte(data), &out) == nil {
			return out, true, nil
		}
	case !errors.Is(err, sql.ErrNoRows) && ctx.Err() == nil:
		return tools.Output{}, false, fmt.Errorf("the cache of %s: %w", t.Name(), err)
	}
	return tools.Output{}, false, nil
}

// guardedTool makes each call of a side-effecting tool at most once per
// question and step. The call is noted as started, durably, before it is
// made; its output is noted when it returns. A step that finds its call done
// gets the noted output; one that finds it only started fails with
// ErrUnknownOutcome rather than repeat it. A step is the tool, its input as
// the plan wrote it and as resolved, and how many such calls the question
// made before: the same in every attempt at the question.
type guardedTool struct {
	tools.Tool
	q *Queue
}

var _ tools.Tool = (*guardedTool)(nil)

// Call states of agent_research_call.
const (
	callStarted = "started"
	callDone    = "done"
	callFailed  = "failed"
)

func (t *guardedTool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	c := callOf(ctx)
	if c == nil {
		return t.Tool.Call(ctx, req) // not a queue's question: nothing to guard against
	}
	key := c.stepKey(t.Name(), req)
	n, err := t.q.b.exec(ctx, `INSERT INTO agent_research_call (key, job, question, tool, state, output, started_at)
		VALUES ($1, $2, $3, $4, $5, '', $6) ON CONFLICT (key) DO NOTHING`,
		key, c.job, c.question, t.Name(), callStarted, time.Now().UnixMilli())
	if err != nil {
		return tools.Output{}, fmt.Errorf("noting the call of %s: %w", t.Name(), err)
	}
	if n == 0 {
		var state, data string
		if err := t.q.b.db.QueryRowContext(ctx, t.q.b.q(`SELECT state, output FROM agent_research_call WHERE key = $1`), key).Scan(&state, &data); err != nil {
			return tools.Output{}, fmt.Errorf("reading the call of %s: %w", t.Name(), err)
		}
		switch state {
		case callDone:
			var out tools.Output
			if err := json.Unmarshal([]byte(data), &out); err != nil {
				return tools.Output{}, fmt.Errorf("reading the call of %s: %w", t.Name(), err)
			}
			return out, nil
		case callFailed:
			return tools.Output{}, fmt.Errorf("%s failed before and is not called again (idempotency key %s): %s", t.Name(), key, data)
		}
		return tools.Output{}, fmt.Errorf("%s: %w (idempotency key %s)", t.Name(), ErrUnknownOutcome, key)
	}
	out, callErr := t.Tool.Call(tools.WithIdempotencyKey(ctx, key), req)
	state, data := callDone, ""
	if callErr != nil {
		state, data = callFailed, callErr.Error()
	} else if enc, err := json.Marshal(out); err == nil {
		data = string(enc)
	}
	if _, err := t.q.b.exec(context.WithoutCancel(ctx), `UPDATE agent_research_call SET state = $1, output = $2 WHERE key = $3`, state, data, key); err != nil && callErr == nil {
		return out, nil // made and answered; only a later attempt will not know it
	}
	return out, callErr
}

// stepKey is the idempotency key of a call of tool for req in c's question.
func (c *call) stepKey(tool string, req tools.Request) string {
	h := sha256.New()
	for _, s := range []string{c.job, c.question, tool, req.Raw, req.Input} {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	id := hex.EncodeToString(h.Sum(nil))[:32]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	c.seen[id]++
	return fmt.Sprintf("%s-%d", id, c.seen[id])
}
