// Package funcall is the function-calling mode of the Airoboros models: the
// model is shown a list of functions in YAML and answers with the one to call
// and its parameters, as JSON or YAML {function, params}; the call then runs a
// tool.
//
// The prompt is the one the seed model (Airoboros 65B GPT4 m2.0) was trained on.
// Its "agent" training data was generated from airoboros/instructors/prompts/agent.txt
// in github.com/jondurbin/airoboros ("Please select an appropriate function and
// parameters to use from the list of available functions below, based on the
// provided user input. Provide your response in YAML format." then "Input:",
// "Available functions:" as YAML name: {description, params}, and an answer
// "function: ... params: ..."), and the model card's "Agent/function calling"
// section gives the wording users send, which Prompt writes inside the chat
// template:
//
//	As an AI assistant, please select the most suitable function and parameters
//	from the list of available functions below, based on the user's input.
//	Provide your response in JSON format.
//
//	Input: What is the weather in Paris?
//
//	Available functions:
//	weather:
//	  description: The current weather of a city.
//	  params:
//	    city: (string, required) The city.
//
// The answer is {"function": "weather", "params": {"city": "Paris"}}. Parse reads
// it, as JSON or YAML, and checks it against the functions: an unknown function
// or parameter (with the closest name as a suggestion), a missing required
// parameter, a value of the wrong type are each a Problem of Errors.
//
// Automaton is the constraint for decoding: a byte-level state machine that
// admits exactly the JSON calls of the set, with bounded strings, numbers and
// white space, so that every path ends within MaxLen bytes. Masker applies it to
// a vocabulary through a trie of the tokens' bytes, with a cache of the mask of
// each state (keyed by the state with counters far from their limits merged,
// so the bytes of a long string share one mask); Forced gives the tokens that
// are the only way on. Generate runs a local engine.Model under it, feeding
// forced tokens in one forward pass, so even a model with random weights
// writes a valid call, within MaxLen tokens.
//
// The constraint is JSON only; a YAML answer (or any answer written without
// the constraint, by a server) is parsed and checked, and repaired once:
// Set.Choose asks an Answerer (Set.Constrained over a local model, or
// Unconstrained over any engine.LLM), sends an invalid answer back with what
// was wrong, and fills a Record; Run runs the chosen call's tool from the
// registry (ForTools checks that every function has one).
// planner/constrain does the same for plans with its own grammar and token
// index; the two token layers are meant to become one.
package funcall
