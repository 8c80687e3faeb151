package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/engine/sample"
)

func init() {
	register(command{
		name:    "generate",
		summary: "continue a prompt (text or ids) with a local model or an OpenAI-compatible server",
		run:     runGenerate,
	})
}

const generateUsage = `usage: agent generate (--model DIR | --llm-url URL) (--prompt TEXT | --ids 1,2,3)
       [--max-tokens N] [--temperature T --top-p P --top-k K --repetition-penalty R --seed S]
       [--stop TEXT]... [--json] [--device auto|cpu|cuda] [--tokenizer FILE]

Streams the generated text to stdout (a newline is added at the end when the text
lacks one); --json prints {"ids":[generated ids],"text":"...",...} instead. Timings
go to stderr. --prompt gets BOS in front as transformers adds it; --ids are fed as
given. A model folder without a tokenizer can still run --ids (ids only, no text).
With --llm-url the API key is read from $` + openai.APIKeyEnv + `.`

func runGenerate(ctx context.Context, io stdio, args []string) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(io.err)
	model := fs.String("model", "", "model folder (GPTQ checkpoint) or hub reference org/name[:branch]")
	pull := fs.Bool("pull", false, pullFlagUsage)
	llmURL := fs.String("llm-url", "", "OpenAI-compatible server (vLLM, llama.cpp, Ollama) instead of --model")
	llmModel := fs.String("llm-model", "", "model name on the server (default: the first it lists)")
	prompt := fs.String("prompt", "", "prompt text")
	idList := fs.String("ids", "", "prompt as comma-separated token ids (local model only)")
	tokPath := fs.String("tokenizer", "", "tokenizer.model or tokenizer.json (default: the model folder's)")
	device := fs.String("device", "auto", deviceUsage)
	asJSON := fs.Bool("json", false, `print {"ids":[...],"text":"..."} instead of streaming`)
	var req engine.Request
	fs.IntVar(&req.MaxTokens, "max-tokens", 256, "new tokens at most (0: up to the context length)")
	fs.Float64Var(&req.Sampling.Temperature, "temperature", 0, "sampling temperature (0: greedy)")
	fs.Float64Var(&req.Sampling.TopP, "top-p", 0, "nucleus sampling mass (0 or 1: off)")
	fs.IntVar(&req.Sampling.TopK, "top-k", 50, "keep the K most likely tokens when sampling (0: off; 50 is transformers' default)")
	fs.Float64Var(&req.Sampling.RepetitionPenalty, "repetition-penalty", 0, "penalty on tokens already seen (0 or 1: off)")
	fs.Uint64Var(&req.Sampling.Seed, "seed", 0, "random seed of the draw")
	fs.Func("stop", "stop before this text (repeatable)", func(s string) error {
		req.Stop = append(req.Stop, s)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintln(io.err, generateUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitError{2, err}
	}
	promptSet := false
	fs.Visit(func(f *flag.Flag) { promptSet = promptSet || f.Name == "prompt" })
	var usageErr string
	switch {
	case fs.NArg() > 0:
		usageErr = "unexpected arguments " + strings.Join(fs.Args(), " ")
	case (*model == "") == (*llmURL == ""):
		usageErr = "need exactly one of --model and --llm-url"
	case promptSet == (*idList != ""):
		usageErr = "need exactly one of --prompt and --ids"
	case *llmURL != "" && *idList != "":
		usageErr = "--ids needs a local --model"
	case req.MaxTokens < 0:
		usageErr = fmt.Sprintf("--max-tokens %d: must be >= 0", req.MaxTokens)
	}
	// Checked before a model that may take minutes to load is opened.
	if err := sample.Validate(req.Sampling); usageErr == "" && err != nil {
		usageErr = err.Error()
	}
	if usageErr != "" {
		fs.Usage()
		return exitError{2, errors.New("generate: " + usageErr)}
	}
	var ids []int
	if *idList != "" {
		var err error
		if ids, err = parseIDs(*idList); err != nil {
			return exitError{2, err}
		}
	}
	req.Prompt = *prompt

	onText := func(s string) error {
		_, err := io.out.Write([]byte(s))
		return err
	}
	if *asJSON {
		onText = nil
	}
	var (
		res      engine.Result
		out      []int
		textless bool // a model folder without a tokenizer: ids only
		err      error
	)
	if *llmURL != "" {
		var llm *openai.Client
		llm, err = openai.New(*llmURL, openai.Options{Model: *llmModel, APIKey: os.Getenv(openai.APIKeyEnv)})
		if err != nil {
			return exitError{2, err}
		}
		res, err = llm.Generate(ctx, req, onText)
	} else {
		var dir string
		if dir, err = resolveModel(ctx, *model, *pull, io.err); err != nil {
			return err
		}
		res, out, textless, err = generateLocal(ctx, dir, *tokPath, *device, ids, req, onText, io.err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(io.err, "%d prompt tokens in %.2fs, %d tokens in %.2fs (%.2f tok/s), stop: %s\n",
		res.PromptTokens, res.PromptTime.Seconds(), res.Tokens, res.GenTime.Seconds(), res.TokensPerSecond(), res.Stop)
	if *asJSON {
		type result struct {
			IDs          []int             `json:"ids,omitempty"` // unknown from a server
			Text         string            `json:"text"`
			Stop         engine.StopReason `json:"stop"`
			PromptTokens int               `json:"prompt_tokens"`
			Tokens       int               `json:"tokens"`
		}
		return json.NewEncoder(io.out).Encode(result{out, res.Text, res.Stop, res.PromptTokens, res.Tokens})
	}
	if textless {
		_, err = fmt.Fprintln(io.out, strings.Trim(fmt.Sprint(out), "[]"))
		return err
	}
	if res.Text != "" && !strings.HasSuffix(res.Text, "\n") {
		_, err = fmt.Fprintln(io.out)
	}
	return err
}

// generateLocal loads the model in dir and continues ids, or req.Prompt when ids is
// nil. Without a tokenizer in dir it runs ids only, producing no text (textless).
func generateLocal(ctx context.Context, dir, tokPath, device string, ids []int, req engine.Request, onText func(string) error, progress io.Writer) (res engine.Result, out []int, textless bool, err error) {
	g, m, textless, err := openLocal(ctx, dir, tokPath, device, ids != nil, progress)
	if err != nil {
		return engine.Result{}, nil, false, err
	}
	defer m.Close()
	if ids == nil {
		ids = g.PromptIDs(req.Prompt)
	}
	res, out, err = g.GenerateIDs(ctx, ids, req, onText)
	return res, out, textless, err
}
