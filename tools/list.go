package tools

import (
	"fmt"
	"io"
)

// Entry is a tool as agent tools --json lists it.
type Entry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Entries lists r's tools by name.
func (r *Registry) Entries() []Entry {
	list := []Entry{}
	for _, t := range r.All() {
		list = append(list, Entry{t.Name(), t.Description()})
	}
	return list
}

// WriteList writes a line per tool as the planner shows it: Name[input]:
// description.
func (r *Registry) WriteList(w io.Writer) error {
	for _, t := range r.All() {
		if _, err := fmt.Fprintf(w, "%s[input]: %s\n", t.Name(), t.Description()); err != nil {
			return err
		}
	}
	return nil
}
