// Package configs holds the configuration of agent: the embedded default config.yaml
// and example tools YAML, loading in layers (defaults < file < AGENT_* environment <
// flags) with the source of every value recorded. Files are decoded strictly by
// internal/yamlpos, so that unknown keys and wrong-type values are errors that
// point at file:line:col.
package configs
