package planner

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Budget bounds what one question may spend; a zero field is no bound. The
// counts take in everything the question does: every plan (a repair and the
// replans included), every step, the answer.
type Budget struct {
	// Tokens bounds the prompt and generated tokens of the engine calls.
	Tokens int
	// EngineCalls bounds the generations (plans, KnowledgeModel, prompt tools).
	EngineCalls int
	// ToolCalls bounds the tool calls, retries included; evidence reused from an
	// earlier plan costs none.
	ToolCalls int
	// Time bounds the work on the question: when it passes, running steps stop
	// and the answer is made from the evidence there is.
	Time time.Duration
}

// ErrBudget is wrapped by the error of whatever a budget refused: an engine
// call, a tool call, the rest of a question.
var ErrBudget = errors.New("over budget")

// BudgetError says which bound was reached.
type BudgetError struct {
	What  string // "tokens", "engine calls", "tool calls" or "time"
	Limit string
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("%v: %s (at most %s)", ErrBudget, e.What, e.Limit)
}
func (e *BudgetError) Unwrap() error { return ErrBudget }

// Stop is the stop reason of the bound: "budget-tokens" and so on.
func (e *BudgetError) Stop() string {
	return map[string]string{"tokens": StopBudgetTokens, "engine calls": StopBudgetEngineCalls,
		"tool calls": StopBudgetToolCalls, "time": StopBudgetTime}[e.What]
}

// spend counts a question's use of its budget. It is safe for concurrent use.
type spend struct {
	b Budget

	mu        sync.Mutex
	tokens    int
	engine    int
	tools     int
	exhausted *BudgetError // the first bound reached
}

// over records and returns e as the first bound reached, if none was.
func (s *spend) over(e *BudgetError) *BudgetError {
	if s.exhausted == nil {
		s.exhausted = e
	}
	return e
}

// engineCall takes an engine call from the budget; maxTokens is the request's
// bound, which it lowers to the tokens left.
func (s *spend) engineCall(maxTokens int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.EngineCalls > 0 && s.engine >= s.b.EngineCalls {
		return 0, s.over(&BudgetError{What: "engine calls", Limit: fmt.Sprint(s.b.EngineCalls)})
	}
	if s.b.Tokens > 0 {
		left := s.b.Tokens - s.tokens
		if left <= 0 {
			return 0, s.over(&BudgetError{What: "tokens", Limit: fmt.Sprint(s.b.Tokens)})
		}
		if maxTokens <= 0 || maxTokens > left {
			maxTokens = left
		}
	}
	s.engine++
	return maxTokens, nil
}

// tokensUsed adds the tokens of an ended engine call.
func (s *spend) tokensUsed(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens += n
	if s.b.Tokens > 0 && s.tokens >= s.b.Tokens {
		s.over(&BudgetError{What: "tokens", Limit: fmt.Sprint(s.b.Tokens)})
	}
}

// toolCall takes a tool call from the budget.
func (s *spend) toolCall() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.ToolCalls > 0 && s.tools >= s.b.ToolCalls {
		return s.over(&BudgetError{What: "tool calls", Limit: fmt.Sprint(s.b.ToolCalls)})
	}
	s.tools++
	return nil
}

// spent returns the first bound reached, or nil.
func (s *spend) spent() *BudgetError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exhausted
}

// Usage is what a question spent, as the trace records it.
type Usage struct {
	Tokens      int `json:"tokens"`
	EngineCalls int `json:"engine_calls"`
	ToolCalls   int `json:"tool_calls"`
}

func (s *spend) usage() Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Usage{Tokens: s.tokens, EngineCalls: s.engine, ToolCalls: s.tools}
}
