// Package flags defines the command-line flags that set configuration keys:
// each flag takes the type and the default of its key in the embedded
// defaults, and the flags given on the command line become configs.Settings,
// which configs.Load applies last. So the precedence is the same for every
// command: a flag given beats the AGENT_* variable, which beats the
// configuration file, which beats the default.
package flags

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/rewoo-agent/agent/configs"
)

// Set is the configuration flags defined on a flag set, with --config.
type Set struct {
	fs       *pflag.FlagSet
	file     string
	keys     map[string]string // flag name → configuration key
	defaults map[string]any    // configuration key → its default
}

// New defines --config on fs, for the configuration flags Define adds.
func New(fs *pflag.FlagSet) *Set {
	s := &Set{fs: fs, keys: map[string]string{}, defaults: map[string]any{}}
	fs.StringVar(&s.file, "config", "", "configuration file (default $AGENT_CONFIG, else $XDG_CONFIG_HOME/agent/config.yaml)")
	var d configs.Config
	if err := configs.Decode("(defaults)", configs.DefaultYAML, &d); err != nil {
		panic("embedded defaults: " + err.Error())
	}
	for _, f := range d.Fields() {
		s.defaults[f.Key] = f.Value()
	}
	return s
}

// Define defines the flag name that sets key, of the key's type and with its
// default, its help usage followed by " (config KEY)". A key that is not in
// the configuration, or of a type no flag has, panics: the flags are the
// program's own.
func (s *Set) Define(name, key, usage string) {
	usage += " (config " + key + ")"
	switch v := s.defaults[key].(type) {
	case string:
		s.fs.String(name, v, usage)
	case bool:
		s.fs.Bool(name, v, usage)
	case int:
		s.fs.Int(name, v, usage)
	case int64:
		s.fs.Int64(name, v, usage)
	case float64:
		s.fs.Float64(name, v, usage)
	case time.Duration:
		s.fs.Duration(name, v, usage)
	default:
		panic(fmt.Sprintf("flag --%s: no flag type for key %s (%T)", name, key, v))
	}
	s.keys[name] = key
}

// Alias defines name as another name of the flag of, when that is defined:
// both set the same key.
func (s *Set) Alias(name, of, usage string) {
	f := s.fs.Lookup(of)
	if f == nil {
		return
	}
	s.fs.AddFlag(&pflag.Flag{Name: name, Usage: usage, Value: f.Value, NoOptDefVal: f.NoOptDefVal})
	s.keys[name] = s.keys[of]
}

// File is the configuration file --config names, or "" for the default places.
func (s *Set) File() string { return s.file }

// Settings are the configuration flags given on the command line, in
// lexicographical order of their names.
func (s *Set) Settings() []configs.Setting {
	var settings []configs.Setting
	s.fs.Visit(func(f *pflag.Flag) {
		if k, ok := s.keys[f.Name]; ok {
			settings = append(settings, configs.Setting{Key: k, Value: f.Value.String(), Flag: "--" + f.Name})
		}
	})
	return settings
}
