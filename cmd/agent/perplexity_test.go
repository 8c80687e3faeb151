package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine/safetensors"
)

// TestPerplexity scores a fixture's prompt and compares each NLL with the one the
// reference logits (transformers) give.
func TestPerplexity(t *testing.T) {
	dir := gptqFixture("tiny-4bit-128g-actorder")
	ref, err := safetensors.Open(filepath.Join(dir, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	idsT, _ := ref.Tensor("input_ids")
	logitsT, _ := ref.Tensor("logits")
	ids := make([]string, len(idsT.Data)/4)
	idv := make([]int, len(ids))
	for i := range ids {
		idv[i] = int(int32(binary.LittleEndian.Uint32(idsT.Data[4*i:])))
		ids[i] = fmt.Sprint(idv[i])
	}
	vocab := logitsT.Shape[1]
	var out, errb bytes.Buffer
	err = run(context.Background(), stdio{strings.NewReader(""), &out, &errb},
		[]string{"perplexity", "--model", dir, "--ids", strings.Join(ids, ","), "--json"})
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var res struct {
		Perplexity float64
		NLL        []float64
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.NLL) != len(ids)-1 {
		t.Fatalf("%d NLLs for %d ids", len(res.NLL), len(ids))
	}
	var sum float64
	for i, got := range res.NLL {
		row := make([]float64, vocab)
		hi := math.Inf(-1)
		for j := range row {
			row[j] = float64(math.Float32frombits(binary.LittleEndian.Uint32(logitsT.Data[4*(i*vocab+j):])))
			hi = max(hi, row[j])
		}
		var s float64
		for _, x := range row {
			s += math.Exp(x - hi)
		}
		want := hi + math.Log(s) - row[idv[i+1]]
		if math.Abs(got-want) > 1e-3 {
			t.Errorf("nll[%d] = %v, reference %v", i, got, want)
		}
		sum += want
	}
	if want := math.Exp(sum / float64(len(res.NLL))); math.Abs(res.Perplexity-want) > 1e-3*want {
		t.Errorf("perplexity %v, reference %v", res.Perplexity, want)
	}
}

func TestPerplexityUsage(t *testing.T) {
	cases := [][]string{
		{"perplexity"},
		{"perplexity", "--model", "x"},
		{"perplexity", "--model", "x", "--ids", "1,2", "file"},
		{"perplexity", "--model", "x", "--ids", "1,-2"},
		{"perplexity", "--model", "x", "--ids", "1"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), stdio{strings.NewReader(""), &out, &errb}, args)
			var ee exitError
			if !errors.As(err, &ee) || ee.code != 2 {
				t.Errorf("error %v, want a usage error (exit 2)", err)
			}
		})
	}
}
