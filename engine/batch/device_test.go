package batch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rewoo-agent/agent/engine"
)

// deviceFake is the fake model with DeviceSampling: its "device" picks each
// picked row's token from that row's logits by refSample, given the row's
// settings, history and draw, and records every picked row. fail, when set, makes
// the rows it returns an error for fail alone (engine.RowErrors), and an id it
// returns with ok replaces the sampled one.
type deviceFake struct {
	*fakeModel
	fail func(r engine.RowSample) (id int, ok bool, err error)

	mu     sync.Mutex
	picked []engine.RowSample // histories cloned
}

func (d *deviceFake) SamplesBatchOnDevice() bool { return true }

func (d *deviceFake) ForwardBatchSampled(ctx context.Context, b engine.Batch, want []int, pick []engine.RowSample) ([]float32, []int, error) {
	rows := slices.Clone(want)
	for _, p := range pick {
		rows = append(rows, p.Row)
	}
	all, err := d.ForwardBatch(ctx, b, rows)
	if err != nil {
		return nil, nil, err
	}
	v := d.vocab
	ids := make([]int, len(pick))
	var errs engine.RowErrors
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, p := range pick {
		d.picked = append(d.picked, engine.RowSample{Row: p.Row, Sampling: p.Sampling, History: slices.Clone(p.History), U: p.U})
		ids[i] = refSample(all[(len(want)+i)*v:(len(want)+i+1)*v], p)
		if d.fail == nil {
			continue
		}
		id, ok, ferr := d.fail(p)
		if ok {
			ids[i] = id
		}
		if ferr != nil {
			if errs == nil {
				errs = make(engine.RowErrors, len(pick))
			}
			errs[i], ids[i] = ferr, -1
		}
	}
	if errs != nil {
		return all[:len(want)*v], ids, errs
	}
	return all[:len(want)*v], ids, nil
}

// refSample is the device sampler's rule written out plainly, independently of
// engine/sample (which cannot be given a draw): Hugging Face's repetition penalty
// over the distinct ids of the history, temperature, top-k and top-p in float32
// scores and float64 probabilities, then the first id, in id order, at which the
// cumulative probability passes u times the kept mass. The float operations are
// those of engine/sample, so on logits without ties it picks the same token.
func refSample(logits []float32, r engine.RowSample) int {
	s := r.Sampling
	t := float32(s.Temperature)
	sc := slices.Clone(logits)
	if p := float32(s.RepetitionPenalty); p != 0 && p != 1 {
		seen := map[int32]bool{}
		for _, id := range r.History {
			if !seen[id] {
				seen[id] = true
				if sc[id] < 0 {
					sc[id] *= p
				} else {
					sc[id] /= p
				}
			}
		}
	}
	best := 0
	for i := range sc {
		if t != 0 && t != 1 {
			sc[i] /= t
		}
		if sc[i] > sc[best] {
			best = i
		}
	}
	if t == 0 {
		return best
	}
	// Top-k: the k highest scores (no ties here).
	ids := make([]int, len(sc))
	for i := range ids {
		ids[i] = i
	}
	slices.SortFunc(ids, func(a, b int) int { return cmp.Compare(sc[b], sc[a]) })
	if s.TopK > 0 && s.TopK < len(ids) {
		ids = ids[:s.TopK]
	}
	prob := make([]float64, len(sc))
	z := 0.0
	for _, i := range slices.Sorted(slices.Values(ids)) { // summed in id order
		prob[i] = math.Exp(float64(sc[i]) - float64(sc[best]))
		z += prob[i]
	}
	// Top-p: the most probable while the mass kept is below top-p.
	if s.TopP > 0 && s.TopP < 1 {
		mass, n := 0.0, 0
		for n < len(ids) && mass < s.TopP*z {
			mass += prob[ids[n]]
			n++
		}
		ids, z = ids[:n], mass
	}
	slices.Sort(ids)
	target, acc := r.U*z, 0.0
	for _, i := range ids {
		acc += prob[i]
		if target < acc {
			return i
		}
	}
	return ids[len(ids)-1]
}

// job is one call of a device test: a prompt, its request, and whether it runs
// under a constraint (spelling 40..45).
type job struct {
	prompt      []int
	req         engine.Request
	constrained bool
}

type result struct {
	ids []int
	err error
}

// runJobs runs every job concurrently on a scheduler over m.
func runJobs(t *testing.T, m Model, jobs []job) []result {
	t.Helper()
	s, err := New(m, idTok{bos: 1, eos: 2}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make([]result, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			var ids []int
			var err error
			if j.constrained {
				_, ids, err = s.GenerateConstrained(context.Background(), j.prompt, j.req, &spell{text: []int{40, 41, 42, 43, 44, 45}, eos: 2, forcedAt: 4}, nil)
			} else {
				_, ids, err = s.GenerateIDs(context.Background(), j.prompt, j.req, nil)
			}
			out[i] = result{ids, err}
		})
	}
	wg.Wait()
	return out
}

func spreadFake() *fakeModel {
	f := newFake(64, 4, 64)
	f.gate, f.spread = nil, true
	return f
}

// jobsFor is six concurrent calls with sampling s (seeds differing), the third
// and the sixth constrained.
func jobsFor(s engine.Sampling) []job {
	var jobs []job
	for i, p := range prompts(6, 50) {
		r := engine.Request{MaxTokens: 12 + i, Sampling: s}
		r.Sampling.Seed += uint64(i)
		jobs = append(jobs, job{prompt: p, req: r, constrained: i%3 == 2})
	}
	return jobs
}

// TestDeviceSamplingMatchesHost: with a model that samples on the device, the
// unconstrained sequences' rows are sampled there and the constrained ones' on the
// host, and every call gives the ids it gives on the host path, greedy and seeded
// (temperature, top-k, top-p, repetition penalty); a draw is taken exactly for the
// rows of a temperature other than 0, and each row's history is its sequence's
// distinct ids so far.
func TestDeviceSamplingMatchesHost(t *testing.T) {
	for _, s := range []engine.Sampling{
		{},
		{RepetitionPenalty: 1.37},
		{Temperature: 0.9, Seed: 7},
		{Temperature: 1.2, TopK: 8, Seed: 3},
		{Temperature: 0.8, TopP: 0.7, Seed: 11},
		{Temperature: 1.1, TopK: 12, TopP: 0.9, RepetitionPenalty: 1.37, Seed: 5},
		{Temperature: 0.7, RepetitionPenalty: 0.8, Seed: 9},
	} {
		t.Run(fmt.Sprintf("%+v", s), func(t *testing.T) {
			jobs := jobsFor(s)
			host := runJobs(t, spreadFake(), jobs)
			d := &deviceFake{fakeModel: spreadFake()}
			dev := runJobs(t, d, jobs)
			sampled := false
			for i := range jobs {
				if host[i].err != nil || dev[i].err != nil || !slices.Equal(host[i].ids, dev[i].ids) {
					t.Errorf("call %d: device path %v (%v), host path %v (%v)", i, dev[i].ids, dev[i].err, host[i].ids, host[i].err)
				}
				greedy := runJobs(t, spreadFake(), []job{{prompt: jobs[i].prompt, req: engine.Request{MaxTokens: jobs[i].req.MaxTokens}}})
				sampled = sampled || !slices.Equal(greedy[0].ids, host[i].ids)
			}
			if s.Temperature != 0 && !sampled {
				t.Error("every call gave its greedy ids: the test draws nothing")
			}
			// Each token of an unconstrained call is a picked row; a constrained
			// call's are sampled on the host, under its constraint.
			free := 0
			for i, j := range jobs {
				if !j.constrained {
					free += len(dev[i].ids)
				} else if want := []int{40, 41, 42, 43, 44, 45, 2}; !slices.Equal(dev[i].ids, want) {
					t.Errorf("constrained call %d: %v, want %v", i, dev[i].ids, want)
				}
			}
			if len(d.picked) != free {
				t.Errorf("%d picked rows for %d tokens of unconstrained calls", len(d.picked), free)
			}
			for _, p := range d.picked {
				if (p.U != 0) != (s.Temperature != 0) || p.Sampling.Temperature != s.Temperature || p.Sampling.TopK != s.TopK {
					t.Fatalf("picked row %+v for settings %+v", p, s)
				}
				if len(slices.Compact(slices.Sorted(slices.Values(p.History)))) != len(p.History) || len(p.History) == 0 {
					t.Fatalf("history %v: want the distinct ids so far", p.History)
				}
			}
		})
	}
}

// TestDeviceSamplingErrors: a row the device cannot sample, or one it gives an id
// outside the vocabulary, ends that call alone with a clear error; the calls in
// the same steps go on and give their host-path ids.
func TestDeviceSamplingErrors(t *testing.T) {
	jobs := jobsFor(engine.Sampling{Temperature: 0.9, Seed: 20})
	jobs[0].req.Sampling.Seed = 666 // the device fails its rows
	jobs[1].req.Sampling.Seed = 667 // the device gives id 50 for its rows
	bad := errors.New("the logits gave no token")
	d := &deviceFake{fakeModel: spreadFake(), fail: func(r engine.RowSample) (int, bool, error) {
		switch r.Sampling.Seed {
		case 666:
			return 0, false, bad
		case 667:
			return 50, true, nil
		}
		return 0, false, nil
	}}
	dev := runJobs(t, d, jobs)
	host := runJobs(t, spreadFake(), jobs)
	if err := dev[0].err; !errors.Is(err, bad) || !strings.Contains(err.Error(), "on the device") || len(dev[0].ids) != 0 {
		t.Errorf("call whose row failed: %v, %v; want the device's error", dev[0].ids, err)
	}
	if err := dev[1].err; err == nil || !strings.Contains(err.Error(), "id 50 outside the vocabulary") {
		t.Errorf("call given id 50: %v, %v; want an out-of-vocabulary error", dev[1].ids, err)
	}
	for i := 2; i < len(jobs); i++ {
		if dev[i].err != nil || !slices.Equal(dev[i].ids, host[i].ids) {
			t.Errorf("call %d beside the failing ones: %v (%v), host path %v", i, dev[i].ids, dev[i].err, host[i].ids)
		}
	}
}
