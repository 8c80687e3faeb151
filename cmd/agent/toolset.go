package main

import (
	"context"
	"fmt"
	"os"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/toolset"
)

// toolRegistry builds the configured tools (package tools/toolset) and prints
// a warning for each one that is disabled.
func toolRegistry(ctx context.Context, cfg *configs.Config, llm engine.LLM) (*tools.Registry, error) {
	reg, warnings, err := toolset.Build(ctx, cfg, llm)
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	return reg, err
}
