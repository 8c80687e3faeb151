package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/rewoo-agent/agent/configs"
)

func init() {
	register(command{
		name:    "config",
		summary: "print the effective configuration and where each value came from",
		run:     runConfig,
	})
}

// settingsFlag collects repeated --set KEY=VALUE flags.
type settingsFlag []configs.Setting

func (s *settingsFlag) String() string { return "" }
func (s *settingsFlag) Set(v string) error {
	key, value, ok := strings.Cut(v, "=")
	if !ok || key == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	*s = append(*s, configs.Setting{Key: key, Value: value, Flag: "--set " + key})
	return nil
}

func runConfig(_ context.Context, std stdio, args []string) error {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(std.err)
	configFile := fs.String("config", "", "configuration file (default $AGENT_CONFIG, else $XDG_CONFIG_HOME/agent/config.yaml)")
	var settings settingsFlag
	fs.Var(&settings, "set", "set KEY=VALUE as a flag would (repeatable)")
	asJSON := fs.Bool("json", false, "print [{key, value, source, env}] as JSON")
	defaults := fs.Bool("defaults", false, "print the embedded default config.yaml instead")
	fs.Usage = func() {
		fmt.Fprintln(std.err, "usage: agent config [--config FILE] [--set KEY=VALUE]... [--json | --defaults]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitError{2, err}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitError{2, fmt.Errorf("config: unexpected argument %q", fs.Arg(0))}
	}
	if *defaults {
		_, err := std.out.Write(configs.DefaultYAML)
		return err
	}
	cfg, err := loadConfig(*configFile, settings)
	if err != nil {
		return err
	}
	if *asJSON {
		type entry struct {
			Key    string `json:"key"`
			Value  string `json:"value"`
			Source string `json:"source"`
			Env    string `json:"env,omitempty"`
		}
		list := []entry{}
		for _, f := range cfg.Fields() {
			list = append(list, entry{f.Key, f.String(), cfg.Source(f.Key).String(), f.Env})
		}
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			File   string  `json:"file"`
			Values []entry `json:"values"`
		}{cfg.File(), list})
	}
	file := cfg.File()
	if file == "" {
		file = "none"
	}
	fmt.Fprintf(std.out, "# config file: %s\n", file)
	tw := tabwriter.NewWriter(std.out, 0, 0, 2, ' ', 0)
	for _, f := range cfg.Fields() {
		fmt.Fprintf(tw, "%s\t%s\t# %s\n", f.Key, quoteValue(f.String()), cfg.Source(f.Key))
	}
	return tw.Flush()
}

// quoteValue makes empty values and values with spaces or line ends visible.
func quoteValue(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\n\"#") {
		b, _ := json.Marshal(v)
		return string(b)
	}
	return v
}
