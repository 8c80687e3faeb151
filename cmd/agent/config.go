package main

import (
	"fmt"
	"strings"

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
	l := cfg.Listing()
	if asJSON {
		return printJSON(std.out, l)
	}
	return l.WriteTable(std.out)
}
