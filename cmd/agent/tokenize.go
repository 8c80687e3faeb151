package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/engine/tokenizer"
	"github.com/rewoo-agent/agent/internal/input"
)

func init() {
	addCommand(func() *cobra.Command {
		return newTokenizerCmd("tokenize", "print the token ids of the text on stdin (no BOS)",
			"The text is taken exactly as read: a trailing newline is part of it.",
			`print {"ids":[...]}`, runTokenize)
	})
	addCommand(func() *cobra.Command {
		return newTokenizerCmd("detokenize", "print the text of the token ids on stdin",
			"Ids are separated by commas or spaces, or given as {\"ids\":[...]} or [...].\n"+
				"The text is printed as sentencepiece decodes it, with no newline added.",
			`print {"text":"..."}`, runDetokenize)
	})
}

// maxTokenizeInput bounds the text or ids read from stdin.
const maxTokenizeInput = 64 << 20

// newTokenizerCmd is tokenize or detokenize: the tokenizer is the configured
// one (--tokenizer, a file or a folder holding one; else the model's).
func newTokenizerCmd(name, short, long, jsonHelp string, do func(std stdio, tok *tokenizer.Tokenizer, in []byte, asJSON bool) error) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   name + " [flags] < input",
		Short: short,
		Long:  long,
		Args:  noArgs,
	}
	conf := configFlagSet(cmd, modelGroup)
	cmd.Flags().BoolVar(&asJSON, "json", false, jsonHelp)
	cmd.RunE = conf.runE(func(ctx context.Context, std stdio, cfg *configs.Config, _ []string) error {
		spec, err := engineSpec(cfg, std.err)
		if err != nil {
			return err
		}
		if spec.Tokenizer == "" && spec.Model == "" {
			return usageErr("%s: need --tokenizer FILE (or --model DIR, $AGENT_TOKENIZER, $AGENT_MODEL)", name)
		}
		tok, err := open.Tokenizer(ctx, spec)
		if err != nil {
			return err
		}
		in, err := input.Read(ctx, std.in, maxTokenizeInput)
		if err != nil {
			return err
		}
		return do(std, tok, in, asJSON)
	})
	return cmd
}

func runTokenize(std stdio, tok *tokenizer.Tokenizer, text []byte, asJSON bool) error {
	ids := tok.Encode(string(text))
	if asJSON {
		if ids == nil {
			ids = []int{}
		}
		return json.NewEncoder(std.out).Encode(struct {
			IDs []int `json:"ids"`
		}{ids})
	}
	_, err := fmt.Fprintln(std.out, tokenizer.FormatIDs(ids))
	return err
}

func runDetokenize(std stdio, tok *tokenizer.Tokenizer, in []byte, asJSON bool) error {
	ids, err := tokenizer.ParseIDs(string(in))
	if err == nil {
		err = engine.CheckIDs(ids, tok.VocabSize())
	}
	if err != nil {
		return fmt.Errorf("detokenize: %w", err)
	}
	text := tok.Decode(ids)
	if asJSON {
		return json.NewEncoder(std.out).Encode(struct {
			Text string `json:"text"`
		}{text})
	}
	_, err = io.WriteString(std.out, text)
	return err
}
