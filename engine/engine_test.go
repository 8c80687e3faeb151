package engine_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/engine"
)

func TestTokensPerSecond(t *testing.T) {
	tests := []struct {
		r    engine.Result
		want float64
	}{
		{engine.Result{Tokens: 50, GenTime: 2 * time.Second}, 25},
		{engine.Result{Tokens: 50}, 0}, // no time measured: no rate, not +Inf
		{engine.Result{Tokens: 0, GenTime: time.Second}, 0},
	}
	for _, tt := range tests {
		if got := tt.r.TokensPerSecond(); got != tt.want {
			t.Errorf("%+v: TokensPerSecond() = %v, want %v", tt.r, got, tt.want)
		}
	}
}

func TestBackendRegistry(t *testing.T) {
	opened := 0
	engine.RegisterBackend("test-ok", func() (engine.Backend, error) { opened++; return nil, nil })
	engine.RegisterBackend("test-broken", func() (engine.Backend, error) { return nil, errors.New("no device") })

	if names := engine.Backends(); !slices.Contains(names, "test-ok") || !slices.IsSorted(names) {
		t.Fatalf("Backends() = %v, want a sorted list with test-ok", names)
	}
	if _, err := engine.OpenBackend("test-ok"); err != nil || opened != 1 {
		t.Fatalf("OpenBackend(test-ok): err %v, opened %d times", err, opened)
	}
	if _, err := engine.OpenBackend("test-broken"); err == nil || err.Error() != "open backend test-broken: no device" {
		t.Fatalf("OpenBackend(test-broken) = %v, want the backend's error named", err)
	}
	if _, err := engine.OpenBackend("nonesuch"); err == nil {
		t.Fatal("OpenBackend(nonesuch) succeeded")
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a name twice did not panic")
		}
	}()
	engine.RegisterBackend("test-ok", nil)
}
