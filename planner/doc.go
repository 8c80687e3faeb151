// Package planner turns a question into an answer: it builds the reWOO prompt from
// the tools, streams the plan from the engine, hands each completed step to the
// resolver while the model is still writing, and resolves the answer (Ask); it
// runs a plan given whole the same way (Run). Both give a Trace, the one schema
// of the commands' --json output, listing the engine calls made through an LLM
// from Recorded.
package planner
