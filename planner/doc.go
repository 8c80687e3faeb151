// Package planner turns a question into an answer: it builds the reWOO prompt from
// the tools, streams the plan from the engine, hands each completed step to the
// resolver while the model is still writing, and resolves the answer (Ask); it
// runs a plan given whole the same way (Run). Both give a Trace, the one schema
// of the commands' --json output, listing the engine calls made through an LLM
// from Recorded.
//
// A local engine (an LLM with engine.Constrained, found under Recorded) writes
// every plan under planner/constrain's grammar: only the tools there are,
// references to evidence already defined (the steps standing before a new plan
// included), balanced brackets and an Answer line, within min(MaxPlanTokens,
// the context the prompt leaves) and with no stop strings, so the plan always
// parses. A remote server that constrains its own decoding (engine/openai's
// GenerateGrammar: llama.cpp's grammar, vLLM's structured outputs) gets the
// plan grammar as GBNF, its new steps numbered from the name the prompt gives
// them; what it writes is still checked and repaired, as the plans of other
// servers are. Planner.NoConstrain writes every plan freely.
//
// Ask recovers where it can. A plan that cannot be run goes back to the model
// once with its diagnostics (Planner.NoRepair turns that off). When steps fail
// the model is asked for a new plan, up to Planner.Replans times, given the
// question, the plan, the evidence and the failures; the steps that succeeded
// stand before the new plan, which may cite them by name, and no call that
// succeeded runs again (a memo by tool and input). When nothing more can be
// done the answer is made from the evidence there is and marked partial,
// listing what failed; a service's refusal of automated calls
// (tools.ErrBlocked) is named as a block.
//
// Planner.Budget bounds what a question spends (tokens, engine calls, tool
// calls, time), and Trace.Stop records what ended it. Tools that need a
// person's approval (tools.NeedsConfirm) run only when Planner.Approve says
// so. A Conversation carries the answers and evidence of earlier questions
// into later ones. Questions, engine calls and tool calls are OpenTelemetry
// spans (GenAI semantic conventions), no-ops unless a provider is installed.
package planner
