package custom

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/evidence"
	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/tools"
)

// TestCommandInjection tries the ways a plan's input has become code, and others
// of their families: each tool must be refused at load, or run every payload
// without the file the payload creates appearing.
func TestCommandInjection(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	payloads := []string{
		"a; touch " + pwned + "; id -un",
		"$(touch " + pwned + ")",
		"`touch " + pwned + "`",
		"'; touch " + pwned + "; echo '",
		`"; touch ` + pwned + `; echo "`,
		"\ntouch " + pwned + "\n",
		"touch " + pwned,
		"'); import os; os.system('touch " + pwned + "'); print('",
		`"; system("touch ` + pwned + `"); print "`,
		`__import__("os").system("touch ` + pwned + `")`,
		`system("touch ` + pwned + `")`,
		"-o" + pwned,
		"--output=" + pwned,
		"-S touch " + pwned,
		"-exec touch " + pwned + " ;",
	}
	forms := []struct {
		name, command string
		loads         bool // the safe forms, which must load and run harmlessly
	}{
		{"sh -cx with the input in the script", `argv: [sh, -cx, 'echo {{ .Input }}']`, false},
		{"sh -c with the input as the script", `argv: [sh, -c, '{{ .Input }}']`, false},
		{"sh -c with a trimmed input as the script", `argv: [sh, -c, '{{- .Input | trim -}}']`, false},
		{"sh -c with printf", `argv: [sh, -c, '{{ printf "echo %s" .Input }}']`, false},
		{"sh -c with the input twice", `argv: [sh, -c, '{{ .Input }}{{ .Raw }}']`, false},
		{"sh -c with the input in an if", `argv: [sh, -c, '{{ if .Input }}{{ .Input }}{{ end }}']`, false},
		{"BashO: bash -o pipefail -c", `argv: [bash, -o, pipefail, -c, 'echo {{ .Input }}']`, false},
		{"bash -o pipefail -c with the input as the script", `argv: [bash, -o, pipefail, -c, '{{ .Input }}']`, false},
		{"bash --rcfile F -c", `argv: [bash, --rcfile, /dev/null, -c, 'echo {{ .Input }}']`, false},
		{"bash -c=... glued", `argv: [bash, '-c{{ .Input }}']`, false},
		{"timeout 5 sh -c", `argv: [timeout, "5", sh, -c, 'echo {{ .Input }}']`, false},
		{"timeout 5 sh -c with the input as the script", `argv: [timeout, "5", sh, -c, '{{ .Input }}']`, false},
		{"env -u X sh -c", `argv: [env, -u, X, sh, -c, 'echo {{ .Input }}']`, false},
		{"env -u X sh -c with the input as the script", `argv: [env, -u, X, sh, -c, '{{ .Input }}']`, false},
		{"env -S with the input", `argv: [env, -S, '{{ .Input }}']`, false},
		{"env -S in the same element", `argv: [env, '-S echo {{ .Input }}']`, false},
		{"a script on stdin to sh -s", "argv: [sh, -s]\n      stdin: 'echo {{ .Input }}'", false},
		{"a script on stdin to bash", "argv: [bash]\n      stdin: \"set -e\\necho {{ .Input }}\\n\"", false},
		{"python3 -c print", `argv: [python3, -c, "print('{{ .Input }}')"]`, false},
		{"python3 -c with the input as the program", `argv: [python3, -c, '{{ .Input }}']`, false},
		{"perl -e print", `argv: [perl, -e, 'print "{{ .Input }}"']`, false},
		{"perl -e with the input as the program", `argv: [perl, -e, '{{ .Input }}']`, false},
		{"awk with the input in the program", `argv: [awk, 'BEGIN { print "{{ .Input }}" }']`, false},
		{"find -exec", `argv: [find, ., -name, '{{ .Input }}']`, false},
		{"sort -o takes the input as its value", `argv: [sort, -o, '{{ .Input }}']`, false},
		{"an input templated into an option", `argv: [sort, '--output={{ .Input }}']`, false},

		// The safe forms: the input is data, whatever it holds.
		{"sort with the input as a file", `argv: [sort, '{{ .Input }}']`, true},
		{"sort with the input after --", `argv: [sort, --, '{{ .Input }}']`, true},
		{"a fixed sh script with the input as $1", `argv: [sh, -c, 'printf "%s" "$1"', sh, '{{ .Input }}']`, true},
		{"a fixed bash script with the input after --", `argv: [bash, -o, pipefail, -c, 'printf "%s" "$1"', --, '{{ .Input }}']`, true},
		{"a fixed sh script with the input in the environment", "argv: [sh, -c, 'printf \"%s\" \"$QUERY\"']\n      input_env: QUERY", true},
		{"a fixed sh script with the input on stdin", "argv: [sh, -c, 'cat']\n      stdin: '{{ .Input }}'", true},
		{"python3 -c with the input as sys.argv[1]", `argv: [python3, -c, 'import sys; print(sys.argv[1])', '{{ .Input }}']`, true},
		{"perl -e with the input in @ARGV", `argv: [perl, -e, 'print $ARGV[0]', '{{ .Input | trim }}']`, true},
		{"env -u X with a fixed sh script", `argv: [env, -u, X, sh, -c, 'printf "%s" "$0"', '{{ .Input }}']`, true},
		{"timeout 5 with a fixed sh script", `argv: [timeout, "5", sh, -c, 'printf "%s" "$1"', sh, '{{ .Input }}']`, true},
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			prog := programOf.FindStringSubmatch(f.command)[1]
			if _, err := exec.LookPath(prog); err != nil {
				t.Skipf("no %s here", prog)
			}
			y := fmt.Sprintf("tools:\n  - name: T\n    description: d\n    command:\n      %s\n      env: [PATH]\n      dir: %q\n      exit_codes: [0, 1, 2, 127]\n", f.command, dir)
			set, err := Load(context.Background(), "tools.yaml", []byte(y), Options{Environ: []string{"PATH=" + os.Getenv("PATH")}})
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			if len(set.Tools) == 0 {
				if f.loads {
					t.Fatalf("a safe form was refused: %v", set.Warnings)
				}
				if len(set.Warnings) != 1 || !strings.Contains(set.Warnings[0].Error(), "tool T: ") || !strings.Contains(set.Warnings[0].Error(), "the input") {
					t.Errorf("refused for another reason: %v", set.Warnings)
				}
				return
			}
			if !f.loads {
				t.Errorf("loaded, want it refused")
			}
			for _, p := range payloads {
				out, err := set.Tools[0].Call(context.Background(), tools.Request{Input: p, Raw: p})
				if _, serr := os.Stat(pwned); serr == nil {
					os.Remove(pwned)
					t.Fatalf("input %q ran as code (out %q, err %v)", p, out.Text, err)
				}
				if strings.HasPrefix(p, "-") && !strings.Contains(f.command, "--") {
					if !errors.Is(err, ErrOptionInput) && !strings.Contains(f.command, "QUERY") && !strings.Contains(f.command, "stdin") {
						t.Errorf("input %q where an option may be: err = %v, want ErrOptionInput", p, err)
					}
					continue
				}
				if f.loads && strings.Contains(f.command, "printf") && (err != nil || out.Text != strings.TrimSpace(p)) {
					t.Errorf("input %q: out = %q, %v; want the input as it is", p, out.Text, err)
				}
			}
		})
	}
}

var programOf = regexp.MustCompile(`^argv: \[([^,\]]+)`)

// The payloads above are real: with unsafe_template the same script runs them,
// and the load warns.
func TestCommandUnsafeTemplate(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh here")
	}
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	y := "tools:\n  - name: BashO\n    description: d\n    command:\n      argv: [sh, -c, 'echo {{ .Input }}']\n      unsafe_template: true\n      env: [PATH]\n"
	set, err := Load(context.Background(), "tools.yaml", []byte(y), Options{Environ: []string{"PATH=" + os.Getenv("PATH")}})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if len(set.Warnings) != 1 || !strings.Contains(set.Warnings[0].Error(), "tools.yaml:5:7: tool BashO: unsafe_template: the input is templated into argv[2]") {
		t.Errorf("warnings = %v", set.Warnings)
	}
	if _, err := set.Tools[0].Call(context.Background(), tools.Request{Input: "a; touch " + pwned}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pwned); err != nil {
		t.Errorf("the unsafe template did not run the payload: %v", err)
	}
}

// sort {{ .Input }} with -o/tmp/x must not write a file.
func TestCommandOptionInput(t *testing.T) {
	if _, err := exec.LookPath("sort"); err != nil {
		t.Skip("no sort here")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "x")
	in := filepath.Join(dir, "in")
	os.WriteFile(in, []byte("b\na\n"), 0o644)
	y := "tools:\n  - name: Sort\n    description: d\n    command:\n      argv: [sort, '{{ .Input }}']\n      env: [PATH]\n  - name: SortDashes\n    description: d\n    command:\n      argv: [sort, --, '{{ .Input }}']\n      env: [PATH]\n      exit_codes: [0, 2]\n"
	ts := load(t, y, Options{Environ: []string{"PATH=" + os.Getenv("PATH")}})
	if got, err := call(t, ts["Sort"], in); err != nil || got.Text != "a\nb" {
		t.Errorf("sort of a file: %q, %v", got.Text, err)
	}
	for _, name := range []string{"Sort", "SortDashes"} {
		_, err := call(t, ts[name], "-o"+out)
		if _, serr := os.Stat(out); serr == nil {
			t.Fatalf("%s wrote %s (err %v)", name, out, err)
		}
		if name == "Sort" && !errors.Is(err, ErrOptionInput) {
			t.Errorf("%s: err = %v, want ErrOptionInput", name, err)
		}
	}
}

// The review's plan step, through the parser and the resolver: BashO written the
// unsafe way is left out (the step finds no tool), and written the safe way it
// gets the step's text as data.
func TestPlanStepCannotRunCommands(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash here")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "FILE")
	for _, tt := range []struct{ name, argv, want string }{
		{"templated into the script", `[bash, -o, pipefail, -c, 'echo {{ .Input }}']`, ""},
		{"the script's $1", `[bash, -o, pipefail, -c, 'printf "%s" "$1"', bash, '{{ .Input }}']`, "a; touch " + file + "; id -un"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			y := fmt.Sprintf("tools:\n  - name: BashO\n    description: d\n    command:\n      argv: %s\n      env: [PATH]\n", tt.argv)
			set, err := Load(context.Background(), "tools.yaml", []byte(y), Options{Environ: []string{"PATH=" + os.Getenv("PATH")}})
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			reg, err := tools.NewRegistry(set.Tools...)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := planparser.Parse("Plan: run it\n:evidence0: = BashO[a; touch "+file+"; id -un]\nAnswer: :evidence0:\n", planparser.Options{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := evidence.Resolve(context.Background(), reg, plan, evidence.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(file); err == nil {
				t.Fatal("the plan step ran a command")
			}
			v := res.Get(":evidence0:")
			if tt.want == "" {
				if v.Err == nil || len(set.Tools) != 0 {
					t.Errorf("the unsafe BashO ran: %q", v.Text)
				}
				return
			}
			if v.Err != nil || v.Text != tt.want {
				t.Errorf("evidence = %q, %v; want %q", v.Text, v.Err, tt.want)
			}
		})
	}
}
