// Package server serves any engine.LLM over HTTP with OpenAI's API, so the clients
// written for OpenAI, vLLM or llama.cpp (and this project's engine/openai) can use a
// model loaded once and kept loaded between requests.
//
// Endpoints:
//
//	POST /v1/completions       prompt as text or as an array of token ids
//	POST /v1/chat/completions  messages, written with the model's chat template (engine/chat)
//	GET  /v1/models            the one served model
//	GET  /health               {"status": "ok" | "loading" | "error" | "draining"}
//	GET  /metrics              Prometheus metrics
//	GET  /api/ps               what is loaded, since when and until when (ollama's ps); see PS
//
// # What is compatible
//
// Requests take model, prompt or messages, max_tokens (max_completion_tokens in
// chat), temperature, top_p, stop (a string or an array), seed, stream and
// stream_options.include_usage, plus the extra sampling fields vLLM and llama.cpp
// read: top_k (0 or -1 is off), repetition_penalty (or llama.cpp's repeat_penalty,
// over the prompt and the output as transformers does), min_p 0 and
// repeat_last_n -1. Responses, streamed chunks (server-sent events ending in
// "data: [DONE]"), usage and errors have OpenAI's shape; a stop string ends a
// choice with finish_reason "stop" and, as vLLM writes it, stop_reason set to that
// string. Unknown fields are ignored, as OpenAI's own server does.
//
// # What is not
//
// One choice per request: n, best_of and several prompts in one request are refused,
// and so are logprobs, echo, suffix, logit_bias, presence and frequency penalties,
// tools and response formats other than text: with a 400 error, never silently
// ignored. Omitted, max_tokens means up to the context length (llama.cpp's choice;
// OpenAI's legacy default is 16), and temperature means 1 as at OpenAI. Chat
// messages may only carry text.
//
// # Load, queue and drain
//
// The model is loaded by Options.Load on the first request and unloaded after
// Options.KeepAlive without requests (ollama's keep-alive); a request that comes
// while it loads waits for it. At most Options.MaxRunning requests reach the engine
// at once (1 suits engine/generate, which takes turns; a batching engine takes more)
// and at most Options.MaxWaiting wait for a turn; past that a request is answered
// at once with 503 and an error with code "server_busy", never left waiting without
// bound. A client that goes away cancels its engine call through its context.
// Shutdown stops taking requests, lets the accepted ones finish and unloads the model.
//
// # Metrics
//
// GET /metrics has the requests (by endpoint and code, running, waiting), prompt
// and generated tokens, time-to-first-token and inter-token-latency histograms and
// the model's loads. For an engine with the Scheduled capability (engine/batch's
// continuous-batching scheduler) it also has, read from the scheduler at each
// scrape: its sequences running and waiting, the paged KV cache's blocks (all, in
// use, cached), the prefix cache's queries, hits and tokens saved, preemptions,
// and steps and rows; the counters add up over every load of the server's life.
// /api/ps reports the same cache numbers with the hit rate, and the log has them
// when the engine is released.
package server
