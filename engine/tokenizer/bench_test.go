package tokenizer

import (
	"strings"
	"testing"
)

// benchText is about n bytes of mixed prose, code and non-Latin text.
func benchText(n int) string {
	const para = "Plan: Begin by conducting a web search for the Nobel Prize in Physics 2023.\n" +
		":evidence0: = DuckDuckGo[Nobel Prize in Physics 2023 winners]\n" +
		"def f(x):\n    return x ** 2  # square\n" +
		"naïve café — 東京 🚀 Привет, мир! 1234567890 3.14159 -42\n\n"
	return strings.Repeat(para, n/len(para)+1)[:n]
}

func BenchmarkEncode(b *testing.B) {
	tok := loadLLaMA(b)
	for _, size := range []struct {
		name string
		n    int
	}{{"1KB", 1 << 10}, {"100KB", 100 << 10}} {
		text := benchText(size.n)
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			var ids []int
			for b.Loop() {
				ids = tok.Encode(text)
			}
			b.ReportMetric(float64(len(ids)), "tokens")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	tok := loadLLaMA(b)
	text := benchText(100 << 10)
	ids := tok.Encode(text)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Decode(ids)
	}
}
