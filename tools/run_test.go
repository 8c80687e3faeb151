package tools

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRegistryRun(t *testing.T) {
	failing := errors.New("no luck")
	reg, err := NewRegistry(
		Func{ToolName: "Upper", Desc: "d", Fn: func(_ context.Context, req Request) (Output, error) {
			return Output{Text: strings.ToUpper(req.Input + "|" + req.Raw), Sources: []string{"https://a", "https://b"}}, nil
		}},
		Func{ToolName: "Fails", Desc: "d", Fn: func(context.Context, Request) (Output, error) { return Output{}, failing }},
		Func{ToolName: "Named", Desc: "d", Fn: func(context.Context, Request) (Output, error) {
			return Output{}, errors.New("Named: says so itself")
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, tool string
		want       string // the text, or the error
		is         error
	}{
		{"runs", "Upper", "HI|HI", nil},
		{"unknown", "Nope", `unknown tool "Nope"`, ErrUnknownTool},
		{"named by Run", "Fails", "Fails: no luck", failing},
		{"names itself", "Named", "Named: says so itself", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := reg.Run(context.Background(), tt.tool, "hi")
			got := out.Text
			if err != nil {
				got = err.Error()
			}
			if got != tt.want || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Errorf("Run(%s) = %q, %v; want %q (%v)", tt.tool, out.Text, err, tt.want, tt.is)
			}
		})
	}
	out, _ := reg.Run(context.Background(), "Upper", "x")
	var w, src strings.Builder
	if err := out.WriteText(&w, &src); err != nil || w.String() != "X|X\n" || src.String() != "source: https://a\nsource: https://b\n" {
		t.Errorf("WriteText: %q, %q, %v", w.String(), src.String(), err)
	}
}
