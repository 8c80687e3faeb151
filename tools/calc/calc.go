// Package calc is the Calculator tool: it evaluates one expression of arithmetic,
// comparisons and conditions over numbers and quoted text, such as
// `1872 < 1838 ? "Nora Lorley" : "Falk Ivargren"` or `max(1872, 1838) - 1800`, with
// the cited evidence already substituted in. A plan hands it what a language
// model does badly (comparing two years, adding up figures) and gets an exact
// answer.
//
// The expression language is expr-lang/expr's (a maintained, sandboxed evaluator:
// no variables, no side effects, a node cap and a memory budget), with its
// built-in functions cut to the numeric ones (abs, ceil, floor, round, min, max,
// sum, mean, median), so an input that a page talked into the plan can compute
// but never reach anything.
package calc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"

	"github.com/rewoo-agent/agent/tools"
)

// ErrExpression is wrapped by the error of an input that is not an expression the
// Calculator can evaluate, or whose value it cannot print (NaN, an infinity).
var ErrExpression = errors.New("bad expression")

// MaxInput is the longest input, in bytes, the Calculator takes: an expression
// over a few cited figures, not a cited page.
const MaxInput = 2000

// options are the Calculator's compile options: no variables, expr's numeric
// built-ins alone, a node cap.
var options = func() []expr.Option {
	opts := []expr.Option{expr.Env(map[string]any{}), expr.DisableAllBuiltins(), expr.MaxNodes(256)}
	for _, f := range []string{"abs", "ceil", "floor", "round", "min", "max", "sum", "mean", "median"} {
		opts = append(opts, expr.EnableBuiltin(f))
	}
	return opts
}()

// Tool is the Calculator.
type Tool struct{}

var _ tools.Tool = Tool{}

// Name implements tools.Tool.
func (Tool) Name() string { return "Calculator" }

// Description implements tools.Tool.
func (Tool) Description() string {
	return `Evaluates arithmetic, comparisons and conditions over numbers and quoted text, e.g. 1872 < 1838 ? "Ann Dale" : "Bo Lund". The input is the expression.`
}

// Call implements tools.Tool: the value of req.Input, from the sources of the
// evidence it cites.
func (Tool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	if err := ctx.Err(); err != nil {
		return tools.Output{}, err
	}
	v, err := Eval(req.Input)
	if err != nil {
		return tools.Output{}, err
	}
	return tools.Output{Text: v, Sources: req.CitedSources()}, nil
}

// Eval returns the value of the expression in, printed: integers as such, other
// numbers with at most 12 significant digits, true or false, text as it is.
func Eval(in string) (string, error) {
	in = strings.TrimSpace(in)
	switch {
	case in == "":
		return "", fmt.Errorf("%w: empty input: want an expression such as 2 * (3 + 4)", ErrExpression)
	case len(in) > MaxInput:
		return "", fmt.Errorf("%w: input of %d bytes: at most %d (cite figures, not pages)", ErrExpression, len(in), MaxInput)
	}
	out, err := run(in)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %s", ErrExpression, in, firstLine(err.Error()))
	}
	if i, ok := out.(int); ok {
		// expr's integers wrap around; the same expression over floats does not, so
		// a value far from the integer one means the integers overflowed. (An
		// expression that needs integers, such as 7 % 2, fails over floats: its
		// integer value stands.)
		if f, err := run(in, expr.Patch(floats{})); err == nil {
			if g, ok := f.(float64); ok && math.Abs(g-float64(i)) > 1e-9*math.Max(1, math.Abs(g)) {
				return "", fmt.Errorf("%w: %q overflows 64-bit integers (write a number as 1e20 to compute in floating point)", ErrExpression, in)
			}
		}
	}
	return format(in, out)
}

// run compiles and runs in with the Calculator's options and extra.
func run(in string, extra ...expr.Option) (any, error) {
	prog, err := expr.Compile(in, append(slices.Clip(options), extra...)...)
	if err != nil {
		return nil, err
	}
	return expr.Run(prog, map[string]any{})
}

// floats turns every integer literal into a float one.
type floats struct{}

func (floats) Visit(node *ast.Node) {
	if n, ok := (*node).(*ast.IntegerNode); ok {
		ast.Patch(node, &ast.FloatNode{Value: float64(n.Value)})
	}
}

func format(in string, v any) (string, error) {
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("%w: %q is %v, not a number", ErrExpression, in, x)
		}
		return strconv.FormatFloat(x, 'g', 12, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case string:
		return x, nil
	case nil:
		return "", fmt.Errorf("%w: %q has no value", ErrExpression, in)
	default:
		return fmt.Sprint(x), nil
	}
}

// firstLine drops the source excerpt expr appends to its errors.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
