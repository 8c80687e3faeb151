package planner

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rewoo-agent/agent/planner/plannertest"
)

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestSpans checks the spans of a question with the SDK's in-memory exporter:
// one for the question, one per engine call with its tokens, one per tool call
// with its step, sizes and status, all in the question's trace; payloads only
// with TracePayloads.
func TestSpans(t *testing.T) {
	plan := " :evidence0: = DuckDuckGo[Nobel 2020]\n:evidence1: = Broken[:evidence0:]\nAnswer: :evidence0:\n"
	for _, payloads := range []bool{false, true} {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		p, _, _ := scripted(t, []plannertest.Reply{{Text: plan}})
		p.Tracer, p.TracePayloads, p.Model = tp.Tracer("test"), payloads, "airoboros"
		if _, err := p.Ask(context.Background(), "Who won?", nil); err != nil {
			t.Fatal(err)
		}
		spans := exp.GetSpans() // before Shutdown, which empties the exporter
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		byName := map[string][]tracetest.SpanStub{}
		for _, s := range spans {
			byName[s.Name] = append(byName[s.Name], s)
		}
		q := byName["invoke_agent agent ask"]
		if len(q) != 1 {
			t.Fatalf("question spans %d; spans: %v", len(q), names(spans))
		}
		root := q[0].SpanContext
		for _, s := range spans {
			if s.SpanContext.TraceID() != root.TraceID() {
				t.Errorf("span %s is outside the question's trace", s.Name)
			}
		}
		llm := byName["text_completion airoboros"]
		if len(llm) != 1 {
			t.Fatalf("engine spans: %v", names(spans))
		}
		a := attrs(llm[0])
		if a["gen_ai.operation.name"].AsString() != "text_completion" || a["gen_ai.request.model"].AsString() != "airoboros" ||
			a["gen_ai.usage.input_tokens"].AsInt64() < 10 || a["gen_ai.usage.output_tokens"].AsInt64() < 5 || a["agent.purpose"].AsString() != "plan" ||
			llm[0].Parent.SpanID() != root.SpanID() {
			t.Errorf("engine span %v", llm[0].Attributes)
		}
		ddg, broken := byName["execute_tool DuckDuckGo"], byName["execute_tool Broken"]
		if len(ddg) != 1 || len(broken) != 1 {
			t.Fatalf("tool spans: %v", names(spans))
		}
		a = attrs(ddg[0])
		if a["gen_ai.tool.name"].AsString() != "DuckDuckGo" || a["agent.step"].AsString() != ":evidence0:" ||
			a["agent.tool.input_bytes"].AsInt64() != int64(len("Nobel 2020")) || a["agent.tool.output_bytes"].AsInt64() < 20 ||
			a["agent.tool.status"].AsString() != "ok" || ddg[0].Status.Code == codes.Error || ddg[0].Parent.SpanID() != root.SpanID() {
			t.Errorf("DuckDuckGo span %v", ddg[0].Attributes)
		}
		if attrs(broken[0])["agent.tool.status"].AsString() != "failed" || broken[0].Status.Code != codes.Error {
			t.Errorf("Broken span %v %v", broken[0].Attributes, broken[0].Status)
		}
		_, hasPrompt := attrs(llm[0])["gen_ai.input.messages"]
		_, hasInput := attrs(ddg[0])["gen_ai.tool.call.arguments"]
		if hasPrompt != payloads || hasInput != payloads {
			t.Errorf("payloads %v: prompt in span %v, tool input in span %v", payloads, hasPrompt, hasInput)
		}
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// BenchmarkAskSpans is the cost of the spans of a question of four steps:
// none installed (the global no-op provider) against the SDK recording and
// exporting them (to an exporter that drops them).
func BenchmarkAskSpans(b *testing.B) {
	plan := " :evidence0: = DuckDuckGo[a]\n:evidence1: = DuckDuckGo[b]\n:evidence2: = TextScraper[:evidence0:]\n:evidence3: = KnowledgeModel[Who, given :evidence2:?]\nAnswer: :evidence3:\n"
	for _, name := range []string{"noop", "sdk"} {
		b.Run(name, func(b *testing.B) {
			p, _, _ := scripted(b, []plannertest.Reply{{Text: plan}})
			if name == "sdk" {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
				defer tp.Shutdown(context.Background())
				p.Tracer = tp.Tracer("bench")
			}
			for b.Loop() {
				if _, err := p.Ask(context.Background(), "Who won?", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
