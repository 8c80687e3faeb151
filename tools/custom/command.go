package custom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/tools"
)

type commandSpec struct {
	Argv      []*tmpl       `yaml:"argv"`
	Stdin     *tmpl         `yaml:"stdin"`
	Env       []string      `yaml:"env"`
	Dir       string        `yaml:"dir"`
	ExitCodes []int         `yaml:"exit_codes"`
	Timeout   time.Duration `yaml:"timeout"`
	MaxOutput int           `yaml:"max_output"`
}

// commandTool runs a program. Each argument is rendered on its own and handed to
// the program as one argv element, so nothing in the input is ever parsed by a
// shell.
type commandTool struct {
	base
	spec    *commandSpec
	env     []string
	accept  []int
	timeout time.Duration
	max     int
}

var _ tools.Tool = (*commandTool)(nil)

func (c *commandSpec) build(b base, file string, node *yaml.Node, o Options) (tools.Tool, error) {
	if len(c.Argv) == 0 {
		return nil, configs.NodeError(file, node, "tool %s: command needs argv, the program and its arguments", b.name)
	}
	environ := environMap(o.Environ)
	for i, a := range c.Argv {
		if err := a.parse(file, fmt.Sprintf("%s.command.argv[%d]", b.name, i), nil, environ); err != nil {
			return nil, err
		}
	}
	if strings.Contains(c.Argv[0].text, "{{") {
		return nil, &configs.Error{File: file, Line: c.Argv[0].line, Col: c.Argv[0].col, Msg: fmt.Sprintf("tool %s: the program (argv[0]) must be fixed, not a template", b.name)}
	}
	if c.Stdin != nil {
		if err := c.Stdin.parse(file, b.name+".command.stdin", nil, environ); err != nil {
			return nil, err
		}
	}
	if s, shell := shellScript(c.Argv, c.Stdin); s != nil && strings.Contains(s.text, "{{") {
		return nil, &configs.Error{File: file, Line: s.line, Col: s.col, Msg: fmt.Sprintf("tool %s: the input would be parsed by the shell %s: keep its script fixed and pass the input as an argument after it (sh -c 'grep -- \"$1\" notes' sh '{{ .Input }}')", b.name, shell)}
	}
	accept := c.ExitCodes
	if len(accept) == 0 {
		accept = []int{0}
	}
	return &commandTool{
		base:    b,
		spec:    c,
		env:     allowEnv(environ, c.Env),
		accept:  accept,
		timeout: orDefault(c.Timeout, 30*time.Second),
		max:     orDefault(c.MaxOutput, 64<<10),
	}, nil
}

// shells are programs that parse a script argument (after -c) or their standard
// input as commands.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true, "ash": true, "fish": true, "csh": true, "tcsh": true, "busybox": true, "pwsh": true, "powershell": true, "cmd": true}

// shellScript returns the element a shell would run as its script: the argument
// after -c (or a flag group ending in c), or standard input when there is none.
// Arguments after the script are positional parameters the script quotes, so
// input templated into them stays data. It returns the script and the shell, nil
// for other programs.
func shellScript(argv []*tmpl, stdin *tmpl) (*tmpl, string) {
	i := 0
	if filepath.Base(argv[0].text) == "env" {
		for i = 1; i < len(argv) && (strings.HasPrefix(argv[i].text, "-") || strings.Contains(argv[i].text, "=")); i++ {
		}
		if i == len(argv) {
			return nil, ""
		}
	}
	prog := strings.TrimSuffix(strings.ToLower(filepath.Base(argv[i].text)), ".exe")
	if !shells[prog] {
		return nil, ""
	}
	for j := i + 1; j < len(argv); j++ {
		a := argv[j].text
		if a == "/c" || a == "-Command" || strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.HasSuffix(a, "c") {
			if j+1 < len(argv) {
				return argv[j+1], argv[i].text
			}
			return nil, ""
		}
		if !strings.HasPrefix(a, "-") {
			return nil, "" // a script file; what follows are its arguments
		}
	}
	return stdin, argv[i].text
}

// Call runs the program and returns its standard output. A run past the timeout
// is killed with every process it started.
func (t *commandTool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	argv := make([]string, len(t.spec.Argv))
	for i, a := range t.spec.Argv {
		s, err := a.render(req)
		if err != nil {
			return tools.Output{}, fmt.Errorf("%s: argv[%d]: %w", t.name, i, err)
		}
		argv[i] = s
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = t.env
	cmd.Dir = t.spec.Dir
	if t.spec.Stdin != nil {
		in, err := t.spec.Stdin.render(req)
		if err != nil {
			return tools.Output{}, fmt.Errorf("%s: stdin: %w", t.name, err)
		}
		cmd.Stdin = strings.NewReader(in)
	}
	stdout := &capped{max: t.max}
	stderr := &capped{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	killGroup(cmd)
	// Children that keep the output pipes open must not keep Wait waiting.
	cmd.WaitDelay = time.Second

	err := cmd.Run()
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return tools.Output{}, fmt.Errorf("%s: killed after the %s timeout", t.name, t.timeout)
		}
		return tools.Output{}, ctx.Err()
	}
	var exit *exec.ExitError
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
		// The program exited; a child still held its output. Keep what came.
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
