package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/rewoo-agent/agent/engine"
	_ "github.com/rewoo-agent/agent/engine/backend/cpu" // registers the "cpu" backend
	"github.com/rewoo-agent/agent/engine/llama"
	"github.com/rewoo-agent/agent/engine/tokenizer"
)

func init() {
	register(command{
		name:    "perplexity",
		summary: "score ids or a text file with a model: perplexity and per-token NLL",
		run:     runPerplexity,
	})
}

func runPerplexity(ctx context.Context, io stdio, args []string) error {
	fs := flag.NewFlagSet("perplexity", flag.ContinueOnError)
	fs.SetOutput(io.err)
	model := fs.String("model", "", "model folder (GPTQ checkpoint) or hub reference org/name[:branch]")
	pull := fs.Bool("pull", false, pullFlagUsage)
	idList := fs.String("ids", "", "comma-separated token ids (else the text FILE, tokenized with BOS)")
	device := fs.String("device", "auto", deviceUsage)
	asJSON := fs.Bool("json", false, `print {"perplexity":...,"nll":[...]}`)
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: agent perplexity --model DIR|ORG/NAME[:BRANCH] [--pull] (--ids 1,2,3 | FILE) [--device auto|cpu|cuda] [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitError{2, err}
	}
	if *model == "" || (*idList == "") == (fs.NArg() != 1) {
		fs.Usage()
		return exitError{2, fmt.Errorf("perplexity: need --model and either --ids or one FILE")}
	}
	var ids []int
	if *idList != "" {
		var err error
		if ids, err = parseIDs(*idList); err != nil {
			return exitError{2, err}
		}
	}
	dir, err := resolveModel(ctx, *model, *pull, io.err)
	if err != nil {
		return err
	}
	if *idList == "" {
		text, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return err
		}
		tok, err := tokenizer.LoadDir(dir)
		if err != nil {
			return err
		}
		ids = tok.EncodeWithBOS(string(text))
	}
	if len(ids) < 2 {
		return exitError{2, fmt.Errorf("perplexity: need at least 2 tokens, have %d", len(ids))}
	}
	m, err := openModel(ctx, dir, *device, io.err)
	if err != nil {
		return err
	}
	defer m.Close()
	nll, err := perplexityNLL(ctx, m, ids)
	if err != nil {
		return err
	}
	var sum float64
	for _, v := range nll {
		sum += v
	}
	ppl := math.Exp(sum / float64(len(nll)))
	if *asJSON {
		return json.NewEncoder(io.out).Encode(struct {
			Perplexity float64   `json:"perplexity"`
			Tokens     int       `json:"tokens"`
			NLL        []float64 `json:"nll"`
		}{ppl, len(ids), nll})
	}
	_, err = fmt.Fprintf(io.out, "%.4f\n", ppl)
	return err
}

// perplexityNLL returns -log p(ids[i] | ids[:i]) for i >= 1, from one forward pass
// over every position (the prompt is processed in the model's batches).
func perplexityNLL(ctx context.Context, m engine.Model, ids []int) ([]float64, error) {
	logits, err := m.Forward(ctx, ids[:len(ids)-1], 0, len(ids)-1)
	if err != nil {
		return nil, err
	}
	v := m.VocabSize()
	nll := make([]float64, len(ids)-1)
	for i := range nll {
		row := logits[i*v : (i+1)*v]
		hi := math.Inf(-1)
		for _, x := range row {
			hi = max(hi, float64(x))
		}
		var s float64
		for _, x := range row {
			s += math.Exp(float64(x) - hi)
		}
		nll[i] = hi + math.Log(s) - float64(row[ids[i+1]])
	}
	return nll, nil
}

// parseIDs parses "1,2,3".
func parseIDs(s string) ([]int, error) {
	var ids []int
	for f := range strings.SplitSeq(s, ",") {
		id, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || id < 0 {
			return nil, fmt.Errorf("bad token id %q in --ids", f)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

const deviceUsage = "compute backend: auto (the highest-priority backend with a device: cuda where this build has it and a GPU answers, else cpu), cpu, cuda or cuda:N"

// openBackend opens a device spec: auto (or ""), a backend name, or name:N for
// device N of that backend.
func openBackend(ctx context.Context, device string) (engine.Backend, error) {
	name, n, hasN := strings.Cut(device, ":")
	ordinal := 0
	if hasN {
		var err error
		if ordinal, err = strconv.Atoi(n); err != nil || ordinal < 0 {
			return nil, fmt.Errorf("device %q: want auto, cpu, cuda or cuda:N", device)
		}
	}
	return engine.OpenBackend(ctx, name, ordinal)
}

// openModel loads the checkpoint in dir on the named backend, reporting progress on
// progress (a line that rewrites itself).
func openModel(ctx context.Context, dir, device string, progress io.Writer) (*llama.Model, error) {
	b, err := openBackend(ctx, device)
	if err != nil {
		return nil, err
	}
	device = b.Name()
	// On a terminal one line rewrites itself; in a log, a line per quarter.
	step, format := 25, "loading %s on %s: %3d%% of %.2f GB\n"
	if isTerminal(progress) {
		step, format = 10, "\rloading %s on %s: %3d%% of %.2f GB"
	}
	last := -1
	m, err := llama.Open(ctx, dir, b, llama.Options{Progress: func(done, total int64) {
		if pct := int(int64(100/step)*done/max(total, 1)) * step; pct != last {
			last = pct
			fmt.Fprintf(progress, format, dir, device, pct, float64(total)/1e9)
		}
	}})
	if last >= 0 && step == 10 {
		fmt.Fprintln(progress)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return m, nil
}
