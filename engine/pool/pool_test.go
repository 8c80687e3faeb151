package pool

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/engine/server"
	"github.com/rewoo-agent/agent/planner/plannertest"
)

// fakeLLM writes its name, after release is closed when it is not nil, or
// fails with fail before writing.
type fakeLLM struct {
	name    string
	release chan struct{}
	fail    error

	mu    sync.Mutex
	calls int
}

func (f *fakeLLM) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if f.fail != nil {
		return engine.Result{}, f.fail
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return engine.Result{}, ctx.Err()
		}
	}
	return engine.Result{Text: f.name}, onText(f.name)
}

func (f *fakeLLM) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func generate(p *Pool) (string, error) {
	res, err := p.Generate(context.Background(), engine.Request{Prompt: "p"}, func(string) error { return nil })
	return res.Text, err
}

// TestLeastLoaded checks a generation goes to the member with the fewest in
// flight.
func TestLeastLoaded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		a, b := &fakeLLM{name: "a", release: release}, &fakeLLM{name: "b", release: release}
		p, _ := New(Member{Name: "a", LLM: a}, Member{Name: "b", LLM: b})
		var g errgroup.Group
		for range 4 {
			g.Go(func() error { _, err := generate(p); return err })
			synctest.Wait() // each one in flight before the next is sent
		}
		for _, s := range p.Stats() {
			if s.InFlight != 2 {
				t.Errorf("%s has %d in flight, want 2", s.Name, s.InFlight)
			}
		}
		close(release)
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		if a.count() != 2 || b.count() != 2 {
			t.Errorf("a served %d, b %d", a.count(), b.count())
		}
	})
}

// TestFailover checks a member that fails is set aside, its generation sent to
// another; after its back-off it is probed, and taken back once healthy.
func TestFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := errors.New("connection refused")
		a, b := &fakeLLM{name: "a", fail: down}, &fakeLLM{name: "b"}
		var probes int
		healthy := false
		health := func(context.Context) error {
			probes++
			if !healthy {
				return down
			}
			return nil
		}
		p, _ := New(Member{Name: "a", LLM: a, Health: health}, Member{Name: "b", LLM: b})
		for i := range 3 {
			text, err := generate(p)
			if err != nil || text != "b" {
				t.Fatalf("generation %d: %q, %v", i, text, err)
			}
		}
		if a.count() != 1 || probes != 0 {
			t.Errorf("the failed member was called %d times, probed %d", a.count(), probes)
		}
		if s := p.Stats()[0]; s.Up || !errors.Is(s.LastErr, down) {
			t.Errorf("stats of the failed member: %+v", s)
		}
		time.Sleep(DefaultBackoff)
		generate(p) // a is probed, still down: its back-off doubles
		if probes != 1 || a.count() != 1 {
			t.Errorf("after the back-off: %d probes, %d calls", probes, a.count())
		}
		time.Sleep(DefaultBackoff)
		generate(p)
		if probes != 1 {
			t.Errorf("probed %d times within the doubled back-off", probes)
		}
		time.Sleep(DefaultBackoff)
		healthy, a.fail = true, nil
		if text, err := generate(p); err != nil || text != "a" || probes != 2 {
			t.Errorf("back up: %q, %v, %d probes", text, err, probes)
		}
		// With every member down the error says so, with their reasons.
		a.fail, b.fail = down, down
		if _, err := generate(p); !errors.Is(err, ErrNoMember) || !errors.Is(err, down) {
			t.Errorf("all down: %v", err)
		}
	})
}

// TestTwoServers runs generations over two OpenAI-compatible servers, agent
// serve's (engine/server) and the scripted engine's own: both serve, and when
// one dies midway the rest go to the other.
func TestTwoServers(t *testing.T) {
	var members []Member
	var engines []*plannertest.Engine
	var servers []*httptest.Server
	for i := range 2 {
		e := &plannertest.Engine{Delay: time.Millisecond, Replies: []plannertest.Reply{{Text: fmt.Sprintf(" from %d", i)}}}
		var h http.Handler = e.Handler()
		if i == 0 {
			s, err := server.New(server.Options{Model: "scripted",
				Load: func(context.Context) (engine.LLM, func() error, error) { return e, func() error { return nil }, nil }})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			h = s
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		c, err := openai.New(srv.URL, openai.Options{Model: "scripted"})
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, Member{Name: srv.URL, LLM: c, Health: HTTPHealth(srv.URL, nil)})
		engines, servers = append(engines, e), append(servers, srv)
	}
	p, _ := New(members...)
	run := func(n int) {
		t.Helper()
		var g errgroup.Group
		g.SetLimit(4)
		for range n {
			g.Go(func() error { _, err := generate(p); return err })
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	run(20)
	first := []int{len(engines[0].Calls()), len(engines[1].Calls())}
	if first[0] == 0 || first[1] == 0 || first[0]+first[1] != 20 {
		t.Fatalf("the servers served %v of 20", first)
	}
	servers[0].Close()
	run(20)
	if n := len(engines[1].Calls()) - first[1]; n != 20 {
		t.Errorf("after the first server died the second served %d of 20", n)
	}
	if s := p.Stats(); s[0].Up || s[1].Served != 20+first[1] {
		t.Errorf("stats %+v", s)
	}
}
