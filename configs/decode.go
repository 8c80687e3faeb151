package configs

import (
	"gopkg.in/yaml.v3"

	"github.com/rewoo-agent/agent/internal/yamlpos"
)

// Error is a problem at a place in a configuration file, formatted
// file:line:col: message; Load returns them (joined) for a file it cannot read.
type Error = yamlpos.Error

// NodeError returns an Error at n's position in file. It is yamlpos.NodeError,
// for the packages that report tools-file problems through configs (the http
// tools of tools/custom).
func NodeError(file string, n *yaml.Node, format string, args ...any) *Error {
	return yamlpos.NodeError(file, n, format, args...)
}

// Decode decodes the YAML document data (named file in errors) into v strictly,
// as Load reads a configuration file: it is yamlpos.Decode, for the commands that
// read the embedded defaults.
func Decode(file string, data []byte, v any) error {
	return yamlpos.Decode(file, data, v)
}
