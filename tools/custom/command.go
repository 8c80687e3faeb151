package custom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rewoo-agent/agent/internal/yamlpos"
	"github.com/rewoo-agent/agent/tools"
)

// The threat model of command tools. The YAML author is trusted: they choose the
// program and its fixed arguments, as they would in a script. The step input is
// not: it comes from a model that may be steered by any web page it read. So the
// input reaches the program only as data, through one of three channels:
//
//   - an input slot, an argv element that is exactly {{ .Input }} (or .Raw,
//     optionally | trim). It becomes one whole argument, never several and never
//     part of a fixed one. A slot must come after a "--" element, the author's
//     statement that the program's options end there; without one, a slot may not
//     follow an option (-c, -e, -o, --rcfile: the input would be its value) and
//     an input that starts with "-" is refused at the call, so it is never read as
//     an option (sort {{ .Input }} with -o/tmp/x writes nothing).
//   - stdin: "{{ .Input }}", the input as the whole standard input.
//   - input_env: NAME, the input in one environment variable.
//
// Templating the input into part of an argument or into stdin text (sh -c 'echo
// {{ .Input }}', print('{{ .Input }}')) is how input becomes code, in whatever
// language the program parses there; no list of shells or interpreters can say
// which programs do. It needs unsafe_template: true, and then the load warns.
//
// What the loader cannot know is whether the program runs its operands as code
// (sh -c -- {{ .Input }}, env -- {{ .Input }}, awk -- {{ .Input }}, sh with the input on
// stdin). Handing the input to such a program as its script is the author's
// choice, like writing rm into argv; the documented forms give interpreters a
// fixed script that reads the input as data ("$1", $QUERY, sys.argv[1]).
type commandSpec struct {
	Argv     []*tmpl `yaml:"argv"`
	Stdin    *tmpl   `yaml:"stdin"`
	InputEnv string  `yaml:"input_env"`
	// UnsafeTemplate allows templates of any form in argv and stdin.
	UnsafeTemplate bool          `yaml:"unsafe_template"`
	Env            []string      `yaml:"env"`
	Dir            string        `yaml:"dir"`
	ExitCodes      []int         `yaml:"exit_codes"`
	Timeout        time.Duration `yaml:"timeout"`
	MaxOutput      int           `yaml:"max_output"`
}

// commandTool runs a program. Each argument is rendered on its own and handed to
// the program as one argv element, so nothing in the input is ever parsed by a
// shell.
type commandTool struct {
	base
	spec    *commandSpec
	args    []arg
	stdin   *tmpl
	env     []string
	accept  []int
	timeout time.Duration
	max     int
}

// arg is one argv element: fixed text or a template.
type arg struct {
	t *tmpl // nil for fixed text
	// text is the fixed text; slot marks an input slot, and guarded one not
	// after "--", whose input may not start with "-".
	text          string
	slot, guarded bool
}

var _ tools.Tool = (*commandTool)(nil)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *commandSpec) build(b base, file string, node *yaml.Node, o Options, warn func(error)) (tools.Tool, error) {
	if len(c.Argv) == 0 {
		return nil, yamlpos.NodeError(file, node, "tool %s: command needs argv, the program and its arguments", b.name)
	}
	at := func(t *tmpl, format string, args ...any) error {
		return &yamlpos.Error{File: file, Line: t.line, Col: t.col, Msg: fmt.Sprintf("tool %s: ", b.name) + fmt.Sprintf(format, args...)}
	}
	environ := environMap(o.Environ)
	var spliced []string
	args := make([]arg, len(c.Argv))
	afterDashes := false
	for i, a := range c.Argv {
		if a == nil {
			return nil, yamlpos.NodeError(file, node, "tool %s: argv[%d] is empty", b.name, i)
		}
		if !strings.Contains(a.text, "{{") {
			args[i] = arg{text: a.text}
			if i > 0 && a.text == "--" {
				afterDashes = true
			}
			continue
		}
		if i == 0 {
			return nil, at(a, "the program (argv[0]) must be fixed, not a template")
		}
		if err := a.parse(file, fmt.Sprintf("%s.command.argv[%d]", b.name, i), nil, environ); err != nil {
			return nil, err
		}
		args[i] = arg{t: a}
		if !isSlot(a.t) {
			if !c.UnsafeTemplate {
				return nil, at(a, "argv[%d] templates the input into part of an argument, where the program may parse it as code: make the input a whole element after \"--\" (argv: [prog, --, \"{{ .Input }}\"]), or use stdin or input_env; unsafe_template: true allows it", i)
			}
			spliced = append(spliced, fmt.Sprintf("argv[%d]", i))
			continue
		}
		prev := args[i-1]
		if !afterDashes && prev.t == nil && strings.HasPrefix(prev.text, "-") {
			return nil, at(a, "argv[%d] is the input right after %q, which may be an option taking it as its value (a script, a file to write): put \"--\" before the input", i, prev.text)
		}
		args[i].slot, args[i].guarded = true, !afterDashes
	}
	if c.Stdin != nil {
		if err := c.Stdin.parse(file, b.name+".command.stdin", nil, environ); err != nil {
			return nil, err
		}
		if !isSlot(c.Stdin.t) {
			if !c.UnsafeTemplate {
				return nil, at(c.Stdin, "stdin templates the input into text, where the program may parse it as code: give the input as the whole stdin (stdin: \"{{ .Input }}\"), an argument or input_env; unsafe_template: true allows it")
			}
			spliced = append(spliced, "stdin")
		}
	}
	if c.InputEnv != "" {
		if !envName.MatchString(c.InputEnv) {
			return nil, yamlpos.NodeError(file, node, "tool %s: input_env %q is not an environment variable name", b.name, c.InputEnv)
		}
		if slices.Contains(c.Env, c.InputEnv) {
			return nil, yamlpos.NodeError(file, node, "tool %s: input_env %s is also in env, the variables passed through", b.name, c.InputEnv)
		}
	}
	if c.UnsafeTemplate {
		if len(spliced) == 0 {
			return nil, yamlpos.NodeError(file, node, "tool %s: unsafe_template is set but no template needs it: remove it", b.name)
		}
		warn(yamlpos.NodeError(file, node, "tool %s: unsafe_template: the input is templated into %s, where the program may parse it as code: a plan can run commands through this tool", b.name, strings.Join(spliced, " and ")))
	}
	accept := c.ExitCodes
	if len(accept) == 0 {
		accept = []int{0}
	}
	return &commandTool{
		base:    b,
		spec:    c,
		args:    args,
		stdin:   c.Stdin,
		env:     allowEnv(environ, c.Env),
		accept:  accept,
		timeout: orDefault(c.Timeout, 30*time.Second),
		max:     orDefault(c.MaxOutput, 64<<10),
	}, nil
}

// isSlot reports whether t is exactly {{ .Input }} or {{ .Raw }}, optionally
// piped through trim: a template whose output is the input and nothing else.
func isSlot(t *template.Template) bool {
	if t == nil || t.Tree == nil || len(t.Tree.Root.Nodes) != 1 {
		return false
	}
	action, ok := t.Tree.Root.Nodes[0].(*parse.ActionNode)
	if !ok || len(action.Pipe.Decl) > 0 || len(action.Pipe.Cmds) == 0 || len(action.Pipe.Cmds) > 2 {
		return false
	}
	first := action.Pipe.Cmds[0].Args
	if len(first) != 1 {
		return false
	}
	field, ok := first[0].(*parse.FieldNode)
	if !ok || len(field.Ident) != 1 || field.Ident[0] != "Input" && field.Ident[0] != "Raw" {
		return false
	}
	if len(action.Pipe.Cmds) == 2 {
		then := action.Pipe.Cmds[1].Args
		id, ok := then[0].(*parse.IdentifierNode)
		return len(then) == 1 && ok && id.Ident == "trim"
	}
	return true
}

// ErrOptionInput is the error for an input that starts with "-" in an argument
// the program may read as an option.
var ErrOptionInput = errors.New(`the input starts with "-" where the program may read it as an option`)

// argv renders the program's arguments for req.
func (t *commandTool) argv(req tools.Request) ([]string, error) {
	argv := make([]string, len(t.args))
	for i, a := range t.args {
		if a.t == nil {
			argv[i] = a.text
			continue
		}
		s, err := a.t.render(req)
		if err != nil {
			return nil, fmt.Errorf("%s: argv[%d]: %w", t.name, i, err)
		}
		if a.guarded && strings.HasPrefix(s, "-") {
			return nil, fmt.Errorf("%s: argv[%d]: %w (the tool's argv has no \"--\" before it)", t.name, i, ErrOptionInput)
		}
		if strings.ContainsRune(s, 0) {
			return nil, fmt.Errorf("%s: argv[%d]: the input holds a NUL byte, which no argument can", t.name, i)
		}
		argv[i] = s
	}
	return argv, nil
}

// Call runs the program and returns its standard output. When the call ends, by
// exit, timeout or cancellation, every process the program started is killed.
func (t *commandTool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	argv, err := t.argv(req)
	if err != nil {
		return tools.Output{}, err
	}
	env := t.env
	if t.spec.InputEnv != "" {
		if strings.ContainsRune(req.Input, 0) {
			return tools.Output{}, fmt.Errorf("%s: %s: the input holds a NUL byte, which no environment variable can", t.name, t.spec.InputEnv)
		}
		env = append(slices.Clip(env), t.spec.InputEnv+"="+req.Input)
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = t.spec.Dir
	if t.stdin != nil {
		in, err := t.stdin.render(req)
		if err != nil {
			return tools.Output{}, fmt.Errorf("%s: stdin: %w", t.name, err)
		}
		cmd.Stdin = strings.NewReader(in)
	}
	stdout := &capped{max: t.max}
	stderr := &capped{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A process that keeps the output pipes open must not keep Wait waiting.
	cmd.WaitDelay = time.Second

	err = run(cmd)
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return tools.Output{}, fmt.Errorf("%s: killed after the %s timeout", t.name, t.timeout)
		}
		return tools.Output{}, ctx.Err()
	}
	var exit interface {
		error
		ExitCode() int
	}
	switch {
	case errors.As(err, &exit):
		if code := exit.ExitCode(); code < 0 || !slices.Contains(t.accept, code) {
			msg := strings.TrimSpace(stderr.buf.String())
			if msg == "" {
				msg = "no error output"
			}
			return tools.Output{}, fmt.Errorf("%s: %v: %s", t.name, exit, msg)
		}
	case errors.Is(err, exec.ErrWaitDelay):
		// The program exited; a process that could not be killed still held its
		// output. Keep what came.
	case err != nil:
		return tools.Output{}, fmt.Errorf("%s: %w", t.name, err)
	}
	text := strings.TrimSpace(strings.ToValidUTF8(stdout.buf.String(), "\uFFFD"))
	if stdout.dropped > 0 {
		text += fmt.Sprintf("\n[... %d more bytes of output dropped]", stdout.dropped)
	}
	return tools.Output{Text: text}, nil
}

// capped keeps the first max bytes written and counts the rest.
type capped struct {
	buf     bytes.Buffer
	max     int
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	keep := min(len(p), c.max-c.buf.Len())
	c.buf.Write(p[:max(keep, 0)])
	c.dropped += len(p) - max(keep, 0)
	return len(p), nil
}
