package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/rewoo-agent/agent/engine/tokenizer"
)

func init() {
	register(command{
		name:    "tokenize",
		summary: "print the token ids of the text on stdin (no BOS)",
		run:     runTokenize,
	})
	register(command{
		name:    "detokenize",
		summary: "print the text of the token ids on stdin",
		run:     runDetokenize,
	})
}

// tokenizerFlags parses the flags both commands share and loads the tokenizer.
func tokenizerFlags(io stdio, name, usage, jsonHelp string, args []string) (*tokenizer.Tokenizer, bool, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.err)
	path := fs.String("tokenizer", "", "tokenizer.model or tokenizer.json (or a model folder holding one)")
	asJSON := fs.Bool("json", false, jsonHelp)
	fs.Usage = func() {
		fmt.Fprintln(io.err, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, false, exitError{2, err}
	}
	if *path == "" || fs.NArg() > 0 {
		fs.Usage()
		return nil, false, exitError{2, fmt.Errorf("%s: need --tokenizer FILE and no arguments", name)}
	}
	var tok *tokenizer.Tokenizer
	var err error
	if st, statErr := os.Stat(*path); statErr == nil && st.IsDir() {
		tok, err = tokenizer.LoadDir(*path)
	} else {
		tok, err = tokenizer.Load(*path)
	}
	return tok, *asJSON, err
}

func runTokenize(ctx context.Context, io stdio, args []string) error {
	tok, asJSON, err := tokenizerFlags(io, "tokenize",
		"usage: agent tokenize --tokenizer FILE [--json] < text\n\n"+
			"The text is taken exactly as read: a trailing newline is part of it.",
		`print {"ids":[...]}`, args)
	if err != nil {
		return err
	}
	text, err := readAll(ctx, io.in)
	if err != nil {
		return err
	}
	ids := tok.Encode(string(text))
	if asJSON {
		if ids == nil {
			ids = []int{}
		}
		return json.NewEncoder(io.out).Encode(struct {
			IDs []int `json:"ids"`
		}{ids})
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	_, err = fmt.Fprintln(io.out, strings.Join(parts, " "))
	return err
}

func runDetokenize(ctx context.Context, io stdio, args []string) error {
	tok, asJSON, err := tokenizerFlags(io, "detokenize",
		"usage: agent detokenize --tokenizer FILE [--json] < ids\n\n"+
			"Ids are separated by commas or spaces, or given as {\"ids\":[...]} or [...].\n"+
			"The text is printed as sentencepiece decodes it, with no newline added.",
		`print {"text":"..."}`, args)
	if err != nil {
		return err
	}
	in, err := readAll(ctx, io.in)
	if err != nil {
		return err
	}
	ids, err := parseIDList(string(in), tok.VocabSize())
	if err != nil {
		return fmt.Errorf("detokenize: %w", err)
	}
	text := tok.Decode(ids)
	if asJSON {
		return json.NewEncoder(io.out).Encode(struct {
			Text string `json:"text"`
		}{text})
	}
	_, err = io.out.Write([]byte(text))
	return err
}

// readAll reads r to the end, or returns when ctx ends (an interrupt while
// stdin is a terminal): the reader goroutine then stops at the process's exit.
func readAll(ctx context.Context, r io.Reader) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			return nil, fmt.Errorf("reading stdin: %w", res.err)
		}
		return res.b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// parseIDList reads ids separated by commas and/or white space, or the JSON
// forms {"ids":[...]} and [...], each in [0, vocab).
func parseIDList(s string, vocab int) ([]int, error) {
	var ids []int
	switch t := strings.TrimSpace(s); {
	case strings.HasPrefix(t, "{"):
		var v struct {
			IDs *[]int `json:"ids"`
		}
		if err := json.Unmarshal([]byte(t), &v); err != nil || v.IDs == nil {
			return nil, fmt.Errorf(`input starts with "{" but is not {"ids":[...]} with integer ids: %v`, err)
		}
		ids = *v.IDs
	case strings.HasPrefix(t, "["):
		if err := json.Unmarshal([]byte(t), &ids); err != nil {
			return nil, fmt.Errorf("input starts with \"[\" but is not a JSON array of integer ids: %v", err)
		}
	default:
		fields := strings.FieldsFunc(t, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
		})
		for i, f := range fields {
			id, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("token %d: %q is not an integer id", i+1, f)
			}
			ids = append(ids, id)
		}
	}
	for i, id := range ids {
		if id < 0 || id >= vocab {
			return nil, fmt.Errorf("token %d: id %d is out of range: the vocabulary has ids 0 to %d", i+1, id, vocab-1)
		}
	}
	return ids, nil
}
