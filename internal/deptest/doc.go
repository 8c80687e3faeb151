// Package deptest holds the tests that keep the dependency direction: a table of
// the layers (planparser, evidence, tools, planner, the engine and its parts,
// configs, cmd...) and the layers each may import, checked over the import
// graph go list reports, and the rule that nothing above the engine uses cgo,
// the CUDA backend or the CUDA driver bindings.
package deptest
