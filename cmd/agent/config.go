package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
)

func init() { addCommand(newConfigCmd) }

// settingsFlag collects repeated --set KEY=VALUE flags.
type settingsFlag []configs.Setting

func (s *settingsFlag) String() string { return "" }
func (s *settingsFlag) Type() string   { return "KEY=VALUE" }
func (s *settingsFlag) Set(v string) error {
	key, value, ok := strings.Cut(v, "=")
	if !ok || key == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	*s = append(*s, configs.Setting{Key: key, Value: value, Flag: "--set " + key})
	return nil
}

func newConfigCmd() *cobra.Command {
	var (
		configFile       string
		settings         settingsFlag
		asJSON, defaults bool
	)
	cmd := &cobra.Command{
		Use:   "config",
		Short: "print the effective configuration and where each value came from",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConfig(stdioOf(cmd), configFile, settings, asJSON, defaults)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&configFile, "config", "", "configuration file (default $AGENT_CONFIG, else $XDG_CONFIG_HOME/agent/config.yaml)")
	fs.Var(&settings, "set", "set KEY=VALUE as a flag would (repeatable)")
	fs.BoolVar(&asJSON, "json", false, "print {file, values: [{key, value, source, env}]} as JSON")
	fs.BoolVar(&defaults, "defaults", false, "print the embedded default config.yaml instead")
	return cmd
}

func runConfig(std stdio, configFile string, settings settingsFlag, asJSON, defaults bool) error {
	if defaults {
		_, err := std.out.Write(configs.DefaultYAML)
		return err
	}
	cfg, err := loadConfig(configFile, settings)
	if err != nil {
		return err
	}
	if asJSON {
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
