package calc

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/tools"
)

func TestEval(t *testing.T) {
	tests := []struct{ in, want string }{
		{`1872 < 1838 ? "Nora Lorley" : "Falk Ivargren"`, "Falk Ivargren"},
		{`1872 > 1838 ? "Nora Lorley" : "Falk Ivargren"`, "Nora Lorley"},
		{`"Norland" == "Norland" ? "yes" : "no"`, "yes"},
		{`"Norland" == "Esterre" ? "yes" : "no"`, "no"},
		{` max(1872, 1838) - min(1872, 1838) `, "34"},
		{`7 / 2`, "3.5"},
		{`7 % 2`, "1"},
		{`0.1 + 0.2`, "0.3"},
		{`2 ^ 10`, "1024"},
		{`round(2.5) + floor(-1.5) + ceil(0.2) + abs(-3)`, "5"},
		{`sum([1, 2, 3]) / mean([2, 4])`, "2"},
		{`median([5, 1, 3])`, "3"},
		{`1 < 2 && 3 > 4`, "false"},
		{`3000000000 * 3000000000`, "9000000000000000000"},
		{`1e20 * 10`, "1e+21"},
		{`1 / 3`, "0.333333333333"},
	}
	for _, tt := range tests {
		got, err := Eval(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Eval(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestEvalRefuses: what is not an expression, reaches outside arithmetic, runs
// away or has no printable value is an ErrExpression, never a wrong value.
func TestEvalRefuses(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty input"},
		{"   ", "empty input"},
		{strings.Repeat("1+", MaxInput), "at most"},
		{`Harlow Press < 1838`, "unexpected token"},
		{`x + 1`, "unknown name x"},
		{`now()`, "unknown name now"},
		{`env("HOME")`, "unknown name env"},
		{`len("abc")`, "unknown name len"},
		{`1..100000000`, "memory budget"},
		{`1 / 0`, "+Inf"},
		{`1e300 * 1e300`, "+Inf"},
		{`9223372036854775807 + 1`, "overflows"},
		{`(9223372036854775807 + 9223372036854775807) + 2`, "overflows"},
		{`"a" + 3`, "mismatched types"},
		{`nil`, "no value"},
		{`1 +`, "unexpected token"},
	}
	for _, tt := range tests {
		got, err := Eval(tt.in)
		if !errors.Is(err, ErrExpression) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Eval(%.40q) = %q, %v; want an ErrExpression saying %q", tt.in, got, err, tt.want)
		}
	}
}

// TestCall: the tool evaluates the resolved input and credits the cited
// evidence's sources.
func TestCall(t *testing.T) {
	req := tools.Request{
		Input: `1872 < 1838 ? "Nora Lorley" : "Falk Ivargren"`,
		Raw:   `:evidence1: < :evidence3: ? "Nora Lorley" : "Falk Ivargren"`,
		Cited: []tools.Cited{
			{Name: ":evidence1:", Text: "1872", Sources: []string{"world://people/nora-lorley"}},
			{Name: ":evidence3:", Text: "1838", Sources: []string{"world://people/falk-ivargren", "world://people/nora-lorley"}},
		},
	}
	out, err := Tool{}.Call(context.Background(), req)
	if err != nil || out.Text != "Falk Ivargren" {
		t.Fatalf("Call = %+v, %v", out, err)
	}
	if want := []string{"world://people/nora-lorley", "world://people/falk-ivargren"}; strings.Join(out.Sources, " ") != strings.Join(want, " ") {
		t.Errorf("sources %q, want %q", out.Sources, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (Tool{}).Call(ctx, req); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v", err)
	}
}

// FuzzEval: any input gives a value or an ErrExpression, never a panic or a hang.
func FuzzEval(f *testing.F) {
	seeds, err := os.ReadFile("testdata/expressions.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range strings.Split(strings.TrimSpace(string(seeds)), "\n") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if _, err := Eval(in); err != nil && !errors.Is(err, ErrExpression) {
			t.Fatalf("Eval(%q): %v is not an ErrExpression", in, err)
		}
	})
}
