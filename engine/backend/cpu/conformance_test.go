package cpu

import (
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/backendtest"
)

// TestConformance runs the backend conformance suite on the CPU backend.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) engine.Backend { return New() })
}
