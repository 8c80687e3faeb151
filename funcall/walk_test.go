package funcall

import "testing"

// FuzzWalk uses the fuzzer's bytes as choices among the bytes the automaton
// allows, so it walks deep into admitted calls: no state before the end may
// be a dead end, and every complete call must parse, check and fit MaxLen.
func FuzzWalk(f *testing.F) {
	for _, seed := range []string{"", "\x00\x01\x02", "\xff\xfe\x10\x20\x30\x40\x50", "weather", "convert 30.5 USD EUR"} {
		f.Add([]byte(seed))
	}
	s := testSet(f)
	a := NewAutomaton(s, Limits{MaxString: 8, MaxNumber: 6, MaxSpace: 2})
	f.Fuzz(func(t *testing.T, choices []byte) {
		st := a.Start()
		var text []byte
		for _, c := range choices {
			var allowed []byte
			for b := range 256 {
				if _, ok := a.Step(st, byte(b)); ok {
					allowed = append(allowed, byte(b))
				}
			}
			if len(allowed) == 0 {
				t.Fatalf("dead end after %q", text)
			}
			b := allowed[int(c)%len(allowed)]
			st, _ = a.Step(st, b)
			text = append(text, b)
			if a.Done(st) {
				break
			}
		}
		if !a.Done(st) {
			return
		}
		if len(text) > a.MaxLen() {
			t.Fatalf("%q: %d bytes, over MaxLen %d", text, len(text), a.MaxLen())
		}
		if _, err := s.Parse(string(text)); err != nil {
			t.Fatalf("admitted %q, but Parse says %v", text, err)
		}
	})
}
