package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrIDList is wrapped by every error about the text of an id list.
var ErrIDList = errors.New("bad token id list")

// ParseIDs reads a list of token ids as people and tools write them: separated by
// commas and/or white space ("1,2,3", "1 2 3"), or as JSON, {"ids":[...]} or
// [...]. It checks the form only; the vocabulary is the model's to check
// (engine.CheckIDs). Text with no ids (white space, commas, []) is an empty
// list: callers that need ids say so.
func ParseIDs(s string) ([]int, error) {
	var ids []int
	switch t := strings.TrimSpace(s); {
	case strings.HasPrefix(t, "{"):
		var v struct {
			IDs *[]int `json:"ids"`
		}
		if err := json.Unmarshal([]byte(t), &v); err != nil || v.IDs == nil {
			return nil, fmt.Errorf(`%w: it starts with "{" but is not {"ids":[...]} with integer ids`, ErrIDList)
		}
		ids = *v.IDs
	case strings.HasPrefix(t, "["):
		if err := json.Unmarshal([]byte(t), &ids); err != nil {
			return nil, fmt.Errorf(`%w: it starts with "[" but is not a JSON array of integer ids`, ErrIDList)
		}
	default:
		fields := strings.FieldsFunc(t, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
		})
		for i, f := range fields {
			id, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("%w: token %d, %s, is not an integer id", ErrIDList, i+1, clipQuote(f))
			}
			ids = append(ids, id)
		}
	}
	for i, id := range ids {
		if id < 0 {
			return nil, fmt.Errorf("%w: token %d is %d, and ids are not negative", ErrIDList, i+1, id)
		}
	}
	return ids, nil
}

// FormatIDs writes ids separated by spaces, as ParseIDs reads them.
func FormatIDs(ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return strings.Join(parts, " ")
}

// clipQuote quotes s, at most 40 bytes of it, for an error message.
func clipQuote(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "…"
	}
	return strconv.Quote(s)
}
