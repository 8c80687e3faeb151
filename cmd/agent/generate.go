package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/engine/sample"
	"github.com/rewoo-agent/agent/engine/tokenizer"
)

func init() { addCommand(newGenerateCmd) }

const generateLong = `Streams the generated text to stdout (a newline is added at the end when the text
lacks one); --json prints {"ids":[generated ids],"text":"...",...} instead. Timings
go to stderr. --prompt gets BOS in front as transformers adds it; --ids are fed as
given (commas or spaces, or JSON [..]). A model folder without a tokenizer can
still run --ids (ids only, no text). The engine is the configuration's, as for
every command: --model or $AGENT_MODEL, --llm-url or $AGENT_LLM_URL (its key from
$` + openai.APIKeyEnv + `), engine.* in the file; the sampling flags default to the
configuration's sampling.*.`

// generateArgs are generate's own flags.
type generateArgs struct {
	prompt, ids string
	asJSON      bool
	maxTokens   int
	stop        []string
}

func newGenerateCmd() *cobra.Command {
	var a generateArgs
	cmd := &cobra.Command{
		Use:   "generate (--prompt TEXT | --ids 1,2,3) [flags]",
		Short: "continue a prompt (text or ids) with a local model or an OpenAI-compatible server",
		Long:  generateLong,
		Args:  noArgs,
	}
	conf := configFlagSet(cmd, engineGroup|samplingGroup)
	fs := cmd.Flags()
	fs.StringVar(&a.prompt, "prompt", "", "prompt text")
	fs.StringVar(&a.ids, "ids", "", "prompt as token ids, e.g. 1,2,3 (local model only)")
	fs.BoolVar(&a.asJSON, "json", false, `print {"ids":[...],"text":"..."} instead of streaming`)
	fs.IntVar(&a.maxTokens, "max-tokens", 256, "new tokens at most (0: up to the context length)")
	fs.StringArrayVar(&a.stop, "stop", nil, "stop before this text (repeatable)")
	cmd.RunE = conf.runE(func(ctx context.Context, std stdio, cfg *configs.Config, _ []string) error {
		return runGenerate(ctx, std, cfg, a, fs.Changed("prompt"))
	})
	return cmd
}

func runGenerate(ctx context.Context, std stdio, cfg *configs.Config, a generateArgs, promptSet bool) error {
	spec, err := checkedSpec("generate", cfg, std.err)
	if err != nil {
		return err
	}
	req := engine.Request{Prompt: a.prompt, MaxTokens: a.maxTokens, Stop: a.stop, Sampling: open.Sampling(cfg.Sampling)}
	// Checked before a model that may take minutes to load is opened.
	switch {
	case promptSet == (a.ids != ""):
		return usageErr("generate: need exactly one of --prompt and --ids")
	case spec.URL != "" && a.ids != "":
		return usageErr("generate: --ids needs a local --model")
	case a.maxTokens < 0:
		return usageErr("generate: --max-tokens %d: must be >= 0", a.maxTokens)
	}
	if err := sample.Validate(req.Sampling); err != nil {
		return usageErr("generate: %v", err)
	}
	var ids []int
	if a.ids != "" {
		if ids, err = tokenizer.ParseIDs(a.ids); err != nil {
			return usageErr("generate: --ids: %v", err)
		}
		if len(ids) == 0 {
			return usageErr("generate: --ids %q holds no ids", a.ids)
		}
	}
	onText := func(s string) error {
		_, err := io.WriteString(std.out, s)
		return err
	}
	if a.asJSON {
		onText = nil
	}
	var (
		res      engine.Result
		out      []int
		textless bool // a model folder without a tokenizer: ids only
	)
	spec.IDsOnly = ids != nil
	llm, m, closeLLM, err := openEngine(ctx, spec)
	if err != nil {
		return err
	}
	defer closeLLM()
	if m == nil {
		res, err = llm.Generate(ctx, req, onText)
	} else {
		textless = m.Tokenizer == nil
		if ids == nil {
			ids = m.Generator.PromptIDs(req.Prompt)
		}
		res, out, err = m.Generator.GenerateIDs(ctx, ids, req, onText)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(std.err, "%d prompt tokens in %.2fs, %d tokens in %.2fs (%.2f tok/s), stop: %s\n",
		res.PromptTokens, res.PromptTime.Seconds(), res.Tokens, res.GenTime.Seconds(), res.TokensPerSecond(), res.Stop)
	if res.Drafted > 0 {
		fmt.Fprintf(std.err, "speculative decoding: %d steps, %d of %d drafts kept (%.0f%%), %.2f tokens a step\n",
			res.Steps, res.Accepted, res.Drafted, 100*float64(res.Accepted)/float64(res.Drafted), float64(res.Tokens)/float64(max(res.Steps, 1)))
	}
	if a.asJSON {
		type result struct {
			IDs          []int             `json:"ids,omitempty"` // unknown from a server
			Text         string            `json:"text"`
			Stop         engine.StopReason `json:"stop"`
			PromptTokens int               `json:"prompt_tokens"`
			Tokens       int               `json:"tokens"`
			Steps        int               `json:"steps,omitempty"`
			Drafted      int               `json:"drafted,omitempty"`
			Accepted     int               `json:"accepted,omitempty"`
		}
		return json.NewEncoder(std.out).Encode(result{out, res.Text, res.Stop, res.PromptTokens, res.Tokens, res.Steps, res.Drafted, res.Accepted})
	}
	if textless {
		_, err = fmt.Fprintln(std.out, tokenizer.FormatIDs(out))
		return err
	}
	if res.Text != "" && !strings.HasSuffix(res.Text, "\n") {
		_, err = fmt.Fprintln(std.out)
	}
	return err
}
