package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel"
)

// TestStart: with an OTLP endpoint the spans reach it over HTTP when the
// command ends; without one nothing records.
func TestStart(t *testing.T) {
	var posts atomic.Int64
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			b, _ := io.ReadAll(r.Body)
			body.Store(string(b))
			posts.Add(1)
		}
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL) // the exporter reads the environment itself
	var warn strings.Builder
	stop := Start(context.Background(), os.Getenv, &warn)
	_, span := otel.Tracer("test").Start(context.Background(), "invoke_agent agent ask")
	if !span.IsRecording() {
		t.Error("the span does not record with an endpoint set")
	}
	span.End()
	stop()
	if posts.Load() == 0 || !strings.Contains(body.Load().(string), "invoke_agent agent ask") || warn.Len() > 0 {
		t.Errorf("%d posts, warnings %q", posts.Load(), warn.String())
	}

	stop = Start(context.Background(), func(string) string { return "" }, &warn)
	defer stop()
	if _, span := otel.Tracer("test").Start(context.Background(), "x"); span.IsRecording() {
		t.Error("a span records without an endpoint")
	}
}
