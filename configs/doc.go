// Package configs holds the configuration of agent: the embedded default config.yaml
// and example tools YAML, loading in layers (defaults < file < AGENT_* environment <
// flags) with the source of every value recorded, and strict YAML decoding whose
// errors point at file:line:col.
package configs
