package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, on a registry of its own so that
// several servers in one process (tests) do not collide.
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec // by endpoint and status code
	running      prometheus.Gauge
	waiting      prometheus.Gauge
	promptTokens prometheus.Counter
	genTokens    prometheus.Counter
	ttft         prometheus.Histogram
	itl          prometheus.Histogram
	loaded       prometheus.Gauge
	loadTime     prometheus.Histogram
}

// Buckets as vLLM's, which were chosen for the same quantities.
var (
	ttftBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640}
	itlBuckets  = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80}
	loadBuckets = []float64{0.1, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640}
)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agent_requests_total",
			Help: "API requests answered, by endpoint and HTTP status code.",
		}, []string{"endpoint", "code"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agent_requests_running",
			Help: "Requests holding one of the engine's turns (waiting for the model to load, or generating).",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agent_requests_waiting",
			Help: "Requests queued for a turn at the engine.",
		}),
		promptTokens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agent_prompt_tokens_total",
			Help: "Prompt tokens processed.",
		}),
		genTokens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agent_generation_tokens_total",
			Help: "Tokens generated.",
		}),
		ttft: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agent_time_to_first_token_seconds",
			Help:    "From a request's arrival (queueing and loading included) to its first generated text.",
			Buckets: ttftBuckets,
		}),
		itl: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agent_inter_token_latency_seconds",
			Help:    "Between two pieces of generated text (a piece is one token's text, or several tokens' where a character or a possible stop string was incomplete).",
			Buckets: itlBuckets,
		}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agent_model_loaded",
			Help: "1 while the model is loaded.",
		}),
		loadTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agent_model_load_seconds",
			Help:    "Time to load the model, failed loads included.",
			Buckets: loadBuckets,
		}),
	}
	m.reg.MustRegister(m.requests, m.running, m.waiting, m.promptTokens, m.genTokens,
		m.ttft, m.itl, m.loaded, m.loadTime,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
