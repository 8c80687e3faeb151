package custom

import (
	"encoding/json"
	"net/url"
)

func pathEscape(s string) string { return url.PathEscape(s) }

// jsonString quotes s as a JSON string literal, for templates that build JSON.
func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}
