package configs

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Entry is one configuration value as agent config --json lists it.
type Entry struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
	Env    string `json:"env,omitempty"`
}

// Listing is the configuration file and every value with where it came from.
type Listing struct {
	File   string  `json:"file"`
	Values []Entry `json:"values"`
}

// Listing lists c's values in the order of Fields.
func (c *Config) Listing() Listing {
	l := Listing{File: c.File(), Values: []Entry{}}
	for _, f := range c.Fields() {
		l.Values = append(l.Values, Entry{f.Key, f.String(), c.Source(f.Key).String(), f.Env})
	}
	return l
}

// WriteTable writes l as agent config shows it: the file, then a line per key
// with its value (quoted when empty or holding spaces, quotes, # or line ends)
// and its source as a YAML comment.
func (l Listing) WriteTable(w io.Writer) error {
	file := l.File
	if file == "" {
		file = "none"
	}
	fmt.Fprintf(w, "# config file: %s\n", file)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range l.Values {
		fmt.Fprintf(tw, "%s\t%s\t# %s\n", e.Key, quoteValue(e.Value), e.Source)
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
