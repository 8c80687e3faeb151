// Package models holds the language models shipped with the repository, each a
// GPTQ checkpoint folder engine/gptq reads, and locates them for tests and
// commands.
//
// rewoo-tiny is a small LLaMA-architecture model trained from scratch (see
// rewoo-tiny/README.md) to write reWOO plans over LocalSearch, LocalReader and
// KnowledgeModel and to answer KnowledgeModel's closed-context prompts over the
// offline world (package world).
package models

import (
	"path/filepath"
	"runtime"
)

// RewooTiny is the shipped model's folder name.
const RewooTiny = "rewoo-tiny"

// Dir is the absolute path of the shipped model name inside this checkout.
func Dir(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), name)
}
