// Package planner turns a question into an answer: it builds the reWOO prompt from
// the tools, streams the plan from the engine, hands each completed step to the
// resolver while the model is still writing, and resolves the answer.
package planner
