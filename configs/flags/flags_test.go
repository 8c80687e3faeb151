package flags_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/configs/flags"
)

// newSet is a flag set with the configuration flags --seed, --timeout,
// --temperature, --model and --yes (also --allow-confirm).
func newSet() (*pflag.FlagSet, *flags.Set) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	s := flags.New(fs)
	s.Define("seed", "sampling.seed", "random seed")
	s.Define("timeout", "planner.timeout", "time limit")
	s.Define("temperature", "sampling.temperature", "temperature")
	s.Define("model", "engine.model", "the model")
	s.Define("yes", "planner.allow_confirm", "run confirm tools")
	s.Alias("allow-confirm", "yes", "the same as --yes")
	s.Alias("never", "undefined", "an alias of nothing is not defined")
	return fs, s
}

func TestSettings(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []configs.Setting
	}{
		{nil, nil},
		{[]string{"--timeout", "2m", "--seed=7"}, []configs.Setting{
			{Key: "sampling.seed", Value: "7", Flag: "--seed"}, {Key: "planner.timeout", Value: "2m0s", Flag: "--timeout"}}},
		{[]string{"--allow-confirm"}, []configs.Setting{{Key: "planner.allow_confirm", Value: "true", Flag: "--allow-confirm"}}},
		{[]string{"--yes", "--temperature", "0.5", "--model", "org/name"}, []configs.Setting{
			{Key: "engine.model", Value: "org/name", Flag: "--model"}, {Key: "sampling.temperature", Value: "0.5", Flag: "--temperature"},
			{Key: "planner.allow_confirm", Value: "true", Flag: "--yes"}}},
		{[]string{"--config", "x.yaml"}, nil}, // --config is no setting
	} {
		fs, s := newSet()
		if err := fs.Parse(tt.args); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if got := s.Settings(); !slices.Equal(got, tt.want) {
			t.Errorf("%v: settings %+v, want %+v", tt.args, got, tt.want)
		}
	}
}

// TestDefaultsAndHelp: each flag shows its key's default and names the key.
func TestDefaultsAndHelp(t *testing.T) {
	fs, _ := newSet()
	var d configs.Config
	if err := configs.Decode("(defaults)", configs.DefaultYAML, &d); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"seed": "0", "timeout": d.Planner.Timeout.String(), "yes": "false", "model": d.Engine.Model} {
		f := fs.Lookup(name)
		if f == nil {
			t.Fatalf("--%s not defined", name)
		}
		if f.DefValue != want {
			t.Errorf("--%s default %q, want %q", name, f.DefValue, want)
		}
		if !strings.HasSuffix(f.Usage, ")") || !strings.Contains(f.Usage, " (config ") {
			t.Errorf("--%s usage %q names no key", name, f.Usage)
		}
	}
	if fs.Lookup("never") != nil {
		t.Error("an alias of an undefined flag was defined")
	}
	if err := fs.Parse([]string{"--seed", "x"}); err == nil {
		t.Error("--seed x parsed")
	}
}

// TestPrecedence: through configs.Load a flag given beats the environment,
// which beats the file (--config), which beats the default.
func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte("sampling:\n  seed: 5\nplanner:\n  timeout: 3m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args    []string
		env     []string
		seed    int64
		source  string
		timeout string
	}{
		{[]string{"--config", file}, nil, 5, "file", "3m0s"},
		{[]string{"--config", file}, []string{"AGENT_SEED=6"}, 6, "env", "3m0s"},
		{[]string{"--config", file, "--seed", "7", "--timeout", "1s"}, []string{"AGENT_SEED=6"}, 7, "flag", "1s"},
	} {
		fs, s := newSet()
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if s.File() != file {
			t.Errorf("File %q, want %q", s.File(), file)
		}
		cfg, err := configs.Load(configs.Options{File: s.File(), Env: tt.env, Flags: s.Settings()})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Sampling.Seed != tt.seed || cfg.Source("sampling.seed").Kind != tt.source || cfg.Planner.Timeout.String() != tt.timeout {
			t.Errorf("%v %v: seed %d from %s, timeout %s; want %d from %s, %s", tt.args, tt.env,
				cfg.Sampling.Seed, cfg.Source("sampling.seed").Kind, cfg.Planner.Timeout, tt.seed, tt.source, tt.timeout)
		}
	}
}

// TestDefineRefuses: a key the configuration lacks, or one no flag type fits
// (a list), is the program's mistake and panics.
func TestDefineRefuses(t *testing.T) {
	for _, key := range []string{"no.such.key", "planner.stop"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("key %s: no panic", key)
				}
			}()
			flags.New(pflag.NewFlagSet("test", pflag.ContinueOnError)).Define("x", key, "")
		}()
	}
}
