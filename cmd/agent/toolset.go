package main

import (
	"context"

	"github.com/rewoo-agent/agent/tools"
)

// toolRegistry builds the tools a plan may call: the built-ins plus the custom tools
// of the YAML file at toolsConfig ("" for none).
//
// The built-in and YAML tools arrive with the tools issue; until then the registry
// holds only what callers add.
func toolRegistry(ctx context.Context, toolsConfig string) (*tools.Registry, error) {
	_, _ = ctx, toolsConfig
	return tools.NewRegistry()
}
