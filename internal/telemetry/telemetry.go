// Package telemetry installs the OpenTelemetry trace exporter (OTLP over HTTP)
// when the environment names an endpoint, so the planner's spans leave the process.
package telemetry

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Start exports the planner's OpenTelemetry spans (a question, its
// engine calls, its tool calls) over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; the exporter reads the other
// OTEL_EXPORTER_OTLP_* variables (headers, timeout, certificates), and
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the service. Otherwise
// nothing is installed, and the spans are the API's no-ops. The function it
// returns sends what is left and stops the exporter. Problems go to warn: an
// agent without its traces still answers.
func Start(ctx context.Context, getenv func(string) string, warn io.Writer) (stop func()) {
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return func() {}
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		if p := getenv(k); p != "" && p != "http/protobuf" {
			fmt.Fprintf(warn, "agent: %s=%s: traces are sent as http/protobuf, the one protocol this build speaks\n", k, p)
		}
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		fmt.Fprintf(warn, "agent: OpenTelemetry traces are off: %v\n", err)
		return func() {}
	}
	res, err := resource.New(ctx, resource.WithAttributes(attribute.String("service.name", "agent")), resource.WithFromEnv())
	if err != nil {
		fmt.Fprintf(warn, "agent: OpenTelemetry resource: %v\n", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			fmt.Fprintf(warn, "agent: sending the OpenTelemetry traces: %v\n", err)
		}
		otel.SetTracerProvider(prev)
	}
}
