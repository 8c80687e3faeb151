package server

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/batch"
)

// Scheduled is an optional capability of an engine.LLM: the counters of a
// continuous-batching scheduler with a paged, prefix-cached KV cache
// (batch.Scheduler has it). The server publishes them on /metrics and /api/ps.
type Scheduled interface {
	Stats() batch.Stats
}

var _ Scheduled = (*batch.Scheduler)(nil)

// schedStats follows the loaded engine's scheduler. Its counters are summed over
// every engine the server loaded, so that they never go back when the model is
// unloaded and loaded again; its gauges are the loaded engine's.
type schedStats struct {
	mu      sync.Mutex
	cur     Scheduled   // the loaded engine's; nil when none is loaded
	retired batch.Stats // the counters of the engines released
	seen    bool        // a scheduler was ever loaded
}

// loaded starts following llm, if it has a scheduler.
func (t *schedStats) loaded(llm engine.LLM) {
	sc, ok := llm.(Scheduled)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur, t.seen = sc, true
}

// released stops following the loaded engine, keeping its counters, and returns
// its last counters (ok false when it had no scheduler).
func (t *schedStats) released() (last batch.Stats, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur == nil {
		return batch.Stats{}, false
	}
	last = t.cur.Stats()
	t.retired = addCounters(t.retired, last)
	t.cur = nil
	return last, true
}

// snapshot returns the gauges of the loaded scheduler (zero when none) with the
// counters of the server's life, and whether a scheduler was ever loaded.
func (t *schedStats) snapshot() (batch.Stats, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur == nil {
		return t.retired, t.seen
	}
	return addCounters(t.cur.Stats(), t.retired), true
}

// addCounters returns now with the counters (not the gauges) of past added.
func addCounters(now, past batch.Stats) batch.Stats {
	now.PrefixQueries += past.PrefixQueries
	now.PrefixHits += past.PrefixHits
	now.TokensSaved += past.TokensSaved
	now.Preemptions += past.Preemptions
	now.Steps += past.Steps
	now.Rows += past.Rows
	now.PromptTokens += past.PromptTokens
	now.GeneratedTokens += past.GeneratedTokens
	return now
}

// schedMetric is one of the scheduler's numbers as a Prometheus metric.
type schedMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(batch.Stats) float64
}

// schedCollector publishes a schedStats, read at each scrape: nothing is polled.
type schedCollector struct {
	stats   *schedStats
	metrics []schedMetric
}

var _ prometheus.Collector = (*schedCollector)(nil)

func newSchedCollector(t *schedStats) *schedCollector {
	gauge := func(name, help string, f func(batch.Stats) int) schedMetric {
		return schedMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.GaugeValue,
			func(s batch.Stats) float64 { return float64(f(s)) }}
	}
	counter := func(name, help string, f func(batch.Stats) int64) schedMetric {
		return schedMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue,
			func(s batch.Stats) float64 { return float64(f(s)) }}
	}
	return &schedCollector{stats: t, metrics: []schedMetric{
		gauge("agent_batch_sequences_running", "Sequences in the batching engine's running set (0 while none is loaded).",
			func(s batch.Stats) int { return s.Running }),
		gauge("agent_batch_sequences_waiting", "Calls queued inside the batching engine for a slot or for KV blocks.",
			func(s batch.Stats) int { return s.Waiting }),
		gauge("agent_kv_cache_blocks", "Blocks of the loaded engine's paged KV cache.",
			func(s batch.Stats) int { return s.Blocks }),
		gauge("agent_kv_cache_blocks_in_use", "KV cache blocks held by running sequences.",
			func(s batch.Stats) int { return s.BlocksUsed }),
		gauge("agent_kv_cache_blocks_cached", "KV cache blocks kept for the prefix cache (in use or not).",
			func(s batch.Stats) int { return s.BlocksCached }),
		gauge("agent_kv_cache_block_size", "Positions in one KV cache block.",
			func(s batch.Stats) int { return s.BlockSize }),
		counter("agent_prefix_cache_queries_total", "Full prompt blocks looked up in the prefix cache.",
			func(s batch.Stats) int64 { return s.PrefixQueries }),
		counter("agent_prefix_cache_hits_total", "Full prompt blocks found in the prefix cache.",
			func(s batch.Stats) int64 { return s.PrefixHits }),
		counter("agent_prefix_cache_tokens_saved_total", "Prompt positions not computed thanks to prefix-cache hits.",
			func(s batch.Stats) int64 { return s.TokensSaved }),
		counter("agent_preemptions_total", "Sequences pushed out of the KV cache to be recomputed.",
			func(s batch.Stats) int64 { return s.Preemptions }),
		counter("agent_batch_steps_total", "Forward steps of the batching engine.",
			func(s batch.Stats) int64 { return s.Steps }),
		counter("agent_batch_rows_total", "Rows of those steps (tokens fed, recomputed ones included).",
			func(s batch.Stats) int64 { return s.Rows }),
	}}
}

func (c *schedCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *schedCollector) Collect(ch chan<- prometheus.Metric) {
	st, _ := c.stats.snapshot()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(st))
	}
}

// CacheState is what /api/ps reports of a batching engine's KV cache: the loaded
// engine's blocks, and the prefix cache's counters over the server's life.
type CacheState struct {
	Blocks       int `json:"blocks"`
	BlocksInUse  int `json:"blocks_in_use"`
	BlocksCached int `json:"blocks_cached"`
	// PrefixQueries counts the full prompt blocks looked up, PrefixHits those
	// found; HitRate is their ratio, TokensSaved the positions not computed.
	PrefixQueries int64   `json:"prefix_queries"`
	PrefixHits    int64   `json:"prefix_hits"`
	HitRate       float64 `json:"hit_rate"`
	TokensSaved   int64   `json:"tokens_saved"`
	Preemptions   int64   `json:"preemptions"`
}

// cacheState is the /api/ps view of the scheduler, nil when none was ever loaded.
func (t *schedStats) cacheState() *CacheState {
	st, ok := t.snapshot()
	if !ok {
		return nil
	}
	return &CacheState{Blocks: st.Blocks, BlocksInUse: st.BlocksUsed, BlocksCached: st.BlocksCached,
		PrefixQueries: st.PrefixQueries, PrefixHits: st.PrefixHits, HitRate: st.HitRate(),
		TokensSaved: st.TokensSaved, Preemptions: st.Preemptions}
}
