package open

import (
	"fmt"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/hub"
	"github.com/rewoo-agent/agent/engine/openai"
)

// FromConfig is the spec cfg's engine section names, with the key of the
// server and the hub's settings from getenv ($OPENAI_API_KEY, HF_*). A model
// and a server from sources of different precedence are no conflict: the
// higher one wins (a --model flag with llm_url in the file means the model).
// Every error is the configuration's: a bad device or server API, or a model
// and a server of the same precedence (ErrBothEngines).
func FromConfig(cfg *configs.Config, getenv func(string) string) (Spec, error) {
	e := cfg.Engine
	s := Spec{
		Model: e.Model, Tokenizer: e.Tokenizer, Device: e.Device, Pull: e.Pull,
		URL: e.LLMURL, ServerModel: e.LLMModel, APIKey: getenv(openai.APIKeyEnv), ServerAPI: openai.API(e.LLMAPI),
		Speculate: e.Speculate, DraftModel: e.DraftModel, MaxSequences: e.MaxSequences,
		KVCacheShare:  e.KVCacheShare,
		ServerGrammar: openai.Grammar(e.LLMGrammar),
		Hub:           hub.New(getenv),
	}
	if s.Model != "" && s.URL != "" {
		ms, us := cfg.Source("engine.model"), cfg.Source("engine.llm_url")
		switch m, u := ms.Rank(), us.Rank(); {
		case m > u:
			s.URL, s.ServerModel = "", ""
		case u > m:
			s.Model = ""
		default:
			return s, fmt.Errorf("%w: engine.model (%s) and engine.llm_url (%s)", ErrBothEngines, ms, us)
		}
	}
	if _, _, err := ParseDevice(s.Device); err != nil {
		return s, err
	}
	if s.Speculate < 0 {
		return s, fmt.Errorf("engine.speculate (%s): %d: must be >= 0 (0 is off)", cfg.Source("engine.speculate"), s.Speculate)
	}
	if s.MaxSequences < 1 || s.MaxSequences > MaxSequences {
		return s, fmt.Errorf("engine.max_sequences (%s): %d: must be 1 to %d", cfg.Source("engine.max_sequences"), s.MaxSequences, MaxSequences)
	}
	if !(s.KVCacheShare >= 0 && s.KVCacheShare <= 1) {
		return s, fmt.Errorf("engine.kv_cache_share (%s): %g: must be 0 (the backend's default) or above 0 and at most 1", cfg.Source("engine.kv_cache_share"), s.KVCacheShare)
	}
	if _, err := openai.ParseAPI(e.LLMAPI); err != nil {
		return s, fmt.Errorf("engine.llm_api (%s): %w", cfg.Source("engine.llm_api"), err)
	}
	if _, err := openai.ParseGrammar(e.LLMGrammar); err != nil {
		return s, fmt.Errorf("engine.llm_grammar (%s): %w", cfg.Source("engine.llm_grammar"), err)
	}
	return s, nil
}

// Sampling is the configuration's sampling as the engine takes it.
func Sampling(c configs.Sampling) engine.Sampling {
	return engine.Sampling{Temperature: c.Temperature, TopK: c.TopK, TopP: c.TopP,
		RepetitionPenalty: c.RepetitionPenalty, Seed: uint64(c.Seed)}
}
