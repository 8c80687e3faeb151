// Package speculate drafts tokens for speculative decoding (engine/generate's
// Drafter): Lookup copies them from earlier n-grams of the prompt and the text
// generated so far (prompt-lookup decoding: a KnowledgeModel answer copies its
// evidence, a plan copies tool names, evidence references and the format lines
// of its prompt), Model runs a smaller model of the same vocabulary greedily.
// The generator verifies every draft, so a drafter only changes the speed.
package speculate

import (
	"context"
	"fmt"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/sample"
)

// Lookup drafts by prompt lookup: it finds the most recent earlier occurrence of
// the last n ids (n from MaxN down to MinN, the longest that occurs) and
// proposes the ids that followed it. It holds no state and is safe for
// concurrent use.
type Lookup struct {
	MinN, MaxN int // 0 means DefaultMinN, DefaultMaxN
}

// The n-gram lengths Lookup tries unless configured.
const (
	DefaultMinN = 1
	DefaultMaxN = 3
)

// Draft proposes at most k ids to follow ids.
func (l Lookup) Draft(_ context.Context, ids []int, k int) ([]int, error) {
	lo, hi := l.MinN, l.MaxN
	if lo <= 0 {
		lo = DefaultMinN
	}
	if hi <= 0 {
		hi = DefaultMaxN
	}
	if lo > hi {
		return nil, fmt.Errorf("lookup: n-grams of %d to %d ids", lo, hi)
	}
	if k <= 0 {
		return nil, nil
	}
	for n := min(hi, len(ids)-1); n >= lo; n-- {
		if i := lastMatch(ids, n); i >= 0 {
			follow := ids[i+n : min(i+n+k, len(ids))]
			return append([]int(nil), follow...), nil
		}
	}
	return nil, nil
}

// lastMatch returns where the most recent earlier occurrence of ids' last n ids
// begins, -1 when there is none. The occurrence may overlap the suffix (a
// repeating pattern), but is followed by at least one id.
func lastMatch(ids []int, n int) int {
	suffix := ids[len(ids)-n:]
	last := suffix[n-1]
	for i := len(ids) - n - 1; i >= 0; i-- {
		if ids[i+n-1] != last {
			continue
		}
		j := 0
		for j < n-1 && ids[i+j] == suffix[j] {
			j++
		}
		if j == n-1 {
			return i
		}
	}
	return -1
}

// Model drafts with a smaller model of the target's vocabulary: greedy tokens,
// one forward pass each, its cache kept between drafts so that only the ids it
// has not seen are fed. It is not safe for concurrent use (the generator calls
// it from one generation at a time).
type Model struct {
	m   engine.Model
	fed []int // the ids in m's cache, by position
}

// NewModel returns a drafter over m, which it must be the only user of.
func NewModel(m engine.Model) *Model { return &Model{m: m} }

// Draft proposes the k ids m would generate greedily after ids, fewer where m's
// context ends.
func (d *Model) Draft(ctx context.Context, ids []int, k int) ([]int, error) {
	k = min(k, d.m.ContextLength()-len(ids))
	if k <= 0 || len(ids) == 0 {
		return nil, nil
	}
	start := 0
	for start < len(d.fed) && start < len(ids)-1 && d.fed[start] == ids[start] {
		start++
	}
	feed := ids[start:]
	vocab := d.m.VocabSize()
	var out []int
	for len(out) < k {
		d.fed = d.fed[:start]
		logits, err := d.m.Forward(ctx, feed, start, 1)
		if err != nil {
			return nil, fmt.Errorf("draft model at position %d: %w", start, err)
		}
		if len(logits) != vocab {
			return nil, fmt.Errorf("draft model at position %d: %d logits for a vocabulary of %d", start, len(logits), vocab)
		}
		d.fed = append(d.fed, feed...)
		start += len(feed)
		id := sample.Argmax(logits)
		out = append(out, id)
		feed = []int{id}
	}
	return out, nil
}
