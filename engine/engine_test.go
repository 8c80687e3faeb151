package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// TestBackendRegistry checks the registry through a private set of drivers (this
// test binary registers no real backend): auto's choice by priority and probe, the
// ordinal check against the probe's count, and the errors of each failure.
func TestBackendRegistry(t *testing.T) {
	ctx := context.Background()
	var opened []string
	fake := func(name string) func(context.Context, int) (engine.Backend, error) {
		return func(_ context.Context, ordinal int) (engine.Backend, error) {
			opened = append(opened, fmt.Sprintf("%s:%d", name, ordinal))
			return nil, nil
		}
	}
	engine.RegisterBackend(engine.Driver{Name: "test-gpu", Priority: 100, Open: fake("test-gpu"),
		Probe: func(context.Context) (int, error) { return 0, errors.New("no driver") }})
	engine.RegisterBackend(engine.Driver{Name: "test-none", Priority: 50, Open: fake("test-none"),
		Probe: func(context.Context) (int, error) { return 0, nil }})

	// Nothing has a device yet: auto says why, backend by backend.
	_, err := engine.OpenBackend(ctx, engine.Auto, 0)
	if !errors.Is(err, engine.ErrNoDevice) || !strings.Contains(err.Error(), "test-gpu: no driver") || !strings.Contains(err.Error(), "test-none: no device") {
		t.Fatalf("auto with no device: %v", err)
	}

	engine.RegisterBackend(engine.Driver{Name: "test-two", Priority: 10, Open: fake("test-two"),
		Probe: func(context.Context) (int, error) { return 2, nil }})
	engine.RegisterBackend(engine.Driver{Name: "test-host", Priority: 0, Open: fake("test-host")})
	engine.RegisterBackend(engine.Driver{Name: "test-broken", Priority: -1,
		Open: func(context.Context, int) (engine.Backend, error) { return nil, errors.New("device lost") }})

	if got, want := engine.Backends(), []string{"test-gpu", "test-none", "test-two", "test-host", "test-broken"}; !slices.Equal(got, want) {
		t.Fatalf("Backends() = %v, want %v (by priority)", got, want)
	}
	if name, err := engine.PickBackend(ctx); name != "test-two" || err != nil {
		t.Fatalf("PickBackend = %q, %v; want test-two, the highest priority with a device", name, err)
	}
	for _, c := range []struct {
		name    string
		ordinal int
		opened  string // "" when it must fail
		err     string
		is      error
	}{
		{"", 0, "test-two:0", "", nil},
		{engine.Auto, 1, "test-two:1", "", nil},
		{"test-two", 1, "test-two:1", "", nil},
		{"test-host", 0, "test-host:0", "", nil},
		{"test-two", 2, "", "test-two:2: no such device (this machine has 2)", engine.ErrNoDevice},
		{"test-two", -1, "", "test-two:-1: no such device (this machine has 2)", engine.ErrNoDevice},
		{"test-host", 1, "", "test-host:1: no such device (this machine has 1)", engine.ErrNoDevice},
		{"test-none", 0, "", "test-none:0: no such device (this machine has 0)", engine.ErrNoDevice},
		{"test-gpu", 0, "", "test-gpu:0: no driver", nil},
		{"test-broken", 0, "", "open backend test-broken:0: device lost", nil},
		{"nonesuch", 0, "", `unknown backend "nonesuch" (this build has test-gpu, test-none, test-two, test-host, test-broken)`, engine.ErrUnknownBackend},
	} {
		opened = nil
		_, err := engine.OpenBackend(ctx, c.name, c.ordinal)
		switch {
		case c.opened != "" && (err != nil || !slices.Equal(opened, []string{c.opened})):
			t.Errorf("OpenBackend(%q, %d): err %v, opened %v; want %s", c.name, c.ordinal, err, opened, c.opened)
		case c.opened == "" && (err == nil || err.Error() != c.err || len(opened) != 0):
			t.Errorf("OpenBackend(%q, %d) = %v (opened %v), want %q and nothing opened", c.name, c.ordinal, err, opened, c.err)
		case c.is != nil && !errors.Is(err, c.is):
			t.Errorf("OpenBackend(%q, %d) = %v, want errors.Is %v", c.name, c.ordinal, err, c.is)
		}
	}
	for _, bad := range []engine.Driver{{Name: "test-two", Open: fake("x")}, {Name: "", Open: fake("x")}, {Name: "auto", Open: fake("x")}, {Name: "test-noopen"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterBackend(%+v) did not panic", bad)
				}
			}()
			engine.RegisterBackend(bad)
		}()
	}
}

func TestRowErrors(t *testing.T) {
	bad := errors.New("bad logits")
	tests := []struct {
		errs engine.RowErrors
		want string
	}{
		{engine.RowErrors{nil, bad, nil}, "rows[1]: bad logits"},
		{engine.RowErrors{fmt.Errorf("wrapped: %w", bad), nil, bad}, "rows[0]: wrapped: bad logits (and 1 more rows failed)"},
		{engine.RowErrors{nil}, "no row failed"},
	}
	for _, tt := range tests {
		if got := tt.errs.Error(); got != tt.want {
			t.Errorf("%#v: Error() = %q, want %q", tt.errs, got, tt.want)
		}
		var err error = tt.errs
		var re engine.RowErrors
		if !errors.As(err, &re) || len(re) != len(tt.errs) {
			t.Errorf("errors.As(%v) to RowErrors: %v", err, re)
		}
		if failed := slices.ContainsFunc(tt.errs, func(e error) bool { return e != nil }); errors.Is(err, bad) != failed {
			t.Errorf("errors.Is(%v, bad) = %v", err, !failed)
		}
	}
}
