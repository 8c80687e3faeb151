package constrain

import (
	"github.com/rewoo-agent/agent/planparser"
	"slices"
	"strings"
	"testing"
)

// FuzzGrammar checks the grammar against planparser on any text: what it admits
// whole and complete, planparser validates; and every prefix it admits is
// completed by Finish, within MaxFinish bytes, into a plan planparser validates.
func FuzzGrammar(f *testing.F) {
	for _, p := range corpus(f) {
		f.Add(p.src)
		if i := len(p.src) / 2; i > 0 {
			f.Add(p.src[:i])
		}
	}
	f.Add("#E1 = LLM[a]\nAnswer: #E1 #E10 :evidence1:")
	f.Add(":evidence0: = DuckDuckGo[x\n:evidence0: = y]\nAnswer:")
	g := mustGrammar(f, Options{Tools: corpusTools, Limits: Limits{MaxSteps: 4, MaxInputBytes: 64, MaxLineBytes: 48, MaxProseLines: 3}})
	gAns := mustGrammar(f, Options{Tools: corpusTools, RequireAnswer: true})
	f.Fuzz(func(t *testing.T, src string) {
		for _, g := range []*Grammar{g, gAns} {
			s := g.Start()
			n := 0
			for ; n < len(src); n++ {
				if !g.Allows(s, src[n]) {
					break
				}
				s, _ = g.Advance(s, src[n:n+1])
			}
			if n == len(src) && g.Accepting(s) {
				if err := valid(src); err != nil {
					t.Fatalf("admitted a plan planparser rejects: %v\n%q", err, src)
				}
			}
			// The longest admitted prefix, completed.
			fin := g.Finish(s)
			if len(fin) > g.MaxFinish() {
				t.Fatalf("completion %q longer than MaxFinish %d", fin, g.MaxFinish())
			}
			done, err := g.Advance(s, fin)
			if err != nil || !g.Accepting(done) {
				t.Fatalf("completion %q of %q not admitted (%v)", fin, src[:n], err)
			}
			whole := src[:n] + fin
			if err := valid(whole); err != nil {
				t.Fatalf("completed plan does not validate: %v\n%q", err, whole)
			}
			if g == gAns && !strings.Contains(strings.ToLower(whole), "answer") {
				t.Fatalf("completed plan has no Answer line: %q", whole)
			}
		}
	})
}

// FuzzWalk drives the grammar with the fuzzer's bytes as choices: each byte is
// taken as it is when the grammar allows it, else as an index into the allowed
// bytes. The text so far is always admitted, so this explores deep into plans:
// whenever it is complete planparser must validate it, and at the end Finish
// must complete it.
func FuzzWalk(f *testing.F) {
	for _, p := range corpus(f) {
		f.Add([]byte(p.src))
	}
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"))
	g := mustGrammar(f, Options{Tools: []string{"Wiki", "Wikipedia", "A.b-c", "_x"}, Limits: Limits{MaxSteps: 3, MaxInputBytes: 40, MaxLineBytes: 30, MaxProseLines: 2, MaxNotes: 1, MaxDepth: 3, MaxWraps: 1, MaxBlanks: 2}})
	opts := planparser.Options{Tools: []string{"Wiki", "Wikipedia", "A.b-c", "_x"}}
	f.Fuzz(func(t *testing.T, choices []byte) {
		s := g.Start()
		var text []byte
		for i, c := range choices {
			if !g.Allows(s, c) {
				var allowed []byte
				for b := range 256 {
					if g.Allows(s, byte(b)) {
						allowed = append(allowed, byte(b))
					}
				}
				if len(allowed) == 0 {
					if !g.Accepting(s) {
						t.Fatalf("dead end after %q", text)
					}
					break
				}
				c = allowed[int(c)%len(allowed)]
			}
			s, _ = g.Advance(s, string([]byte{c}))
			text = append(text, c)
			if (i%8 == 0 || i == len(choices)-1) && g.Accepting(s) {
				if _, err := planparser.Parse(string(text), opts); err != nil {
					t.Fatalf("admitted a plan planparser rejects: %v\n%q", err, text)
				}
			}
		}
		fin := g.Finish(s)
		if len(fin) > g.MaxFinish() {
			t.Fatalf("completion %q longer than MaxFinish %d", fin, g.MaxFinish())
		}
		whole := string(text) + fin
		if _, err := planparser.Parse(whole, opts); err != nil {
			t.Fatalf("completed plan does not validate: %v\n%q", err, whole)
		}
	})
}

// FuzzDecode drives a Decoder over the LLaMA vocabulary with the fuzzer's bytes
// choosing among the allowed tokens, with a budget that runs out: every cached
// mask equals a fresh walk of its state, and what the tokens spell when the
// budget is spent is a complete plan planparser validates.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("plan"))
	f.Add([]byte{0, 0, 0, 0, 255, 255, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	for _, p := range corpus(f) {
		f.Add([]byte(p.src[:min(len(p.src), 64)]))
	}
	ix := llamaIndex(f)
	f.Fuzz(func(t *testing.T, choices []byte) {
		if len(choices) > 128 {
			choices = choices[:128]
		}
		budget := ix.Grammar().MaxFinish() + len(choices)/2
		d, err := ix.NewDecoder(budget)
		if err != nil {
			t.Fatal(err)
		}
		for used := 0; used < budget; used++ {
			var id int
			if forced := d.Forced(); len(forced) > 0 {
				id = forced[0]
			} else {
				m := d.Mask()
				if !d.finishing() {
					if fresh := ix.walk(d.State()).mask; !slices.Equal(m, fresh) {
						t.Fatalf("cached mask differs from a fresh walk after %q", d.Text())
					}
				}
				var allowed []int
				for i := range ix.VocabSize() {
					if m.Has(i) {
						allowed = append(allowed, i)
					}
				}
				if len(allowed) == 0 {
					t.Fatalf("no token allowed after %q", d.Text())
				}
				k := 0
				if 2*used+1 < len(choices) {
					k = int(choices[2*used])<<8 | int(choices[2*used+1])
				}
				id = allowed[k%len(allowed)]
			}
			if err := d.Advance(id); err != nil {
				t.Fatalf("after %q: %v", d.Text(), err)
			}
			if id == ix.eos {
				break
			}
		}
		if !d.Done() {
			t.Fatalf("budget spent on an incomplete plan: %q", d.Text())
		}
		if err := valid(d.Text()); err != nil {
			t.Fatalf("plan does not validate: %v\n%q", err, d.Text())
		}
	})
}
