// Package configs embeds the default configuration and the example tool YAML.
package configs
