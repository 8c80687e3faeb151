package planner

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// questionSpan starts the span of a question (op "ask" or "run"); end closes it
// with what the trace says. Under the global no-op provider both cost next to
// nothing.
func (s *session) questionSpan(ctx context.Context, op string) (context.Context, func(*Trace, error)) {
	ctx, span := s.tracer.Start(ctx, "invoke_agent agent "+op, trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.String("gen_ai.agent.name", "agent"),
		attribute.String("agent.operation", op),
	))
	if s.p.TracePayloads && s.tr.Question != "" {
		span.SetAttributes(attribute.String("agent.question", s.tr.Question))
	}
	return ctx, func(tr *Trace, err error) {
		defer span.End()
		if tr != nil {
			span.SetAttributes(
				attribute.Int("agent.steps", len(tr.Steps)),
				attribute.Int("agent.replans", tr.Replans),
				attribute.Bool("agent.partial", tr.Partial),
				attribute.String("agent.stop", tr.Stop),
				attribute.Int("gen_ai.usage.input_tokens", promptTokens(tr)),
				attribute.Int("gen_ai.usage.output_tokens", tr.Usage.Tokens-promptTokens(tr)),
			)
			if s.p.TracePayloads && tr.Answer != nil {
				span.SetAttributes(attribute.String("agent.answer", tr.Answer.Text))
			}
		}
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
	}
}

func promptTokens(tr *Trace) int {
	n := 0
	for _, c := range tr.EngineCalls {
		n += c.PromptTokens
	}
	return n
}
