package world_test

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/world"
)

// The solver below reads only the rendered documents and the question text: it
// knows the phrasings, not the generator's tables, so it checks that every gold
// answer can be derived from the documents by following their facts.

// table is what the solver learned from the documents: name -> relation -> value
// (a name or a year), and the URL of each name's document.
type table struct {
	facts map[string]map[string]string
	doc   map[string]string
}

// sentencePattern is one phrasing of one or two facts about a document's subject;
// NAME stands for the subject's name. Groups are named by relation.
var sentencePatterns = []string{
	`^(?:She|He|NAME) was born in (?P<born_in>.+) in (?P<born_year>\d{4})\.$`,
	`^(?:She|He|NAME) was born in (?P<born_year>\d{4}) in (?P<born_in>.+)\.$`,
	`^(?:She|He|NAME) died in (?P<died_year>\d{4})\.$`,
	`^(?:She|He) was a member of the (?P<member_of>.+)\.$`,
	`^NAME joined the (?P<member_of>.+)\.$`,
	`^NAME is a (?:city|town) in (?P<located_in>.+)\.$`,
	`^The city of NAME lies in (?P<located_in>.+)\.$`,
	`^Its capital is (?P<capital>.+)\.$`,
	`^The capital of NAME is (?P<capital>.+)\.$`,
	`^NAME is (?:a publishing house|a film studio|a learned society) founded in (?P<founded_year>\d{4}) by (?P<founded_by>.+)\.$`,
	`^(?P<founded_by>.+) founded NAME, (?:a publishing house|a film studio|a learned society), in (?P<founded_year>\d{4})\.$`,
	`^It is headquartered in (?P<headquartered_in>.+)\.$`,
	`^NAME is based in (?P<headquartered_in>.+)\.$`,
	`^NAME is a novel by (?P<author>.+), first published in (?P<year>\d{4})\.$`,
	`^NAME is a (?P<year>\d{4}) novel written by (?P<author>.+)\.$`,
	`^It was published by (?P<published_by>.+)\.$`,
	`^(?P<published_by>.+) published the book\.$`,
	`^NAME is a film directed by (?P<director>.+), released in (?P<year>\d{4})\.$`,
	`^NAME is a (?P<year>\d{4}) film directed by (?P<director>.+)\.$`,
	`^It was produced by (?P<produced_by>.+)\.$`,
	`^(?P<produced_by>.+) produced the film\.$`,
}

var headingRE = regexp.MustCompile(`^# (.+)\n\n`)

// readDocuments builds the solver's table from the documents' Markdown.
func readDocuments(t *testing.T, docs []world.Document) table {
	t.Helper()
	tb := table{facts: map[string]map[string]string{}, doc: map[string]string{}}
	for _, d := range docs {
		md := d.Markdown()
		front, body, ok := strings.Cut(strings.TrimPrefix(md, "---\n"), "\n---\n")
		if !ok || !strings.HasPrefix(md, "---\n") {
			t.Fatalf("%s: no front matter", d.Path)
		}
		if !strings.Contains(front, "url: "+d.URL+"\n") {
			t.Fatalf("%s: front matter %q lacks its URL", d.Path, front)
		}
		m := headingRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("%s: no heading in %q", d.Path, body)
		}
		name := m[1]
		if prev, dup := tb.doc[name]; dup {
			t.Fatalf("two documents titled %q: %s and %s", name, prev, d.URL)
		}
		tb.doc[name] = d.URL
		facts := map[string]string{}
		tb.facts[name] = facts
		var res []*regexp.Regexp
		for _, p := range sentencePatterns {
			res = append(res, regexp.MustCompile(strings.ReplaceAll(p, "NAME", regexp.QuoteMeta(name))))
		}
		text := strings.TrimSpace(body[len(m[0]):])
		for s := range strings.SplitSeq(text, ". ") {
			s = strings.TrimSuffix(s, ".") + "."
			for _, re := range res {
				sm := re.FindStringSubmatch(s)
				if sm == nil {
					continue
				}
				for i, rel := range re.SubexpNames() {
					if rel == "" {
						continue
					}
					if old, dup := facts[rel]; dup && old != sm[i] {
						t.Errorf("%s: %s is both %q and %q", d.URL, rel, old, sm[i])
					}
					facts[rel] = sm[i]
				}
			}
		}
	}
	return tb
}

// questionPattern maps a question's phrasing to the relations to follow from each
// entity it names, and how to combine the branches.
type questionPattern struct {
	re   *regexp.Regexp
	path []string
	// combine: "" for a single chain; "order" (groups word, a, b) answers the start
	// whose end is earlier or later; "order-bridge" answers the first object;
	// "same" (groups a, b) answers yes or no.
	combine string
}

func qp(re string, combine string, path ...string) questionPattern {
	return questionPattern{regexp.MustCompile(re), path, combine}
}

var questionPatterns = []questionPattern{
	qp(`^Where was the author of (.+) born\?$`, "", "author", "born_in"),
	qp(`^Where was the director of (.+) born\?$`, "", "director", "born_in"),
	qp(`^In what year was the author of (.+) born\?$`, "", "author", "born_year"),
	qp(`^In what year was the founder of the studio that produced (.+) born\?$`, "", "produced_by", "founded_by", "born_year"),
	qp(`^In what year was the founder of (.+) born\?$`, "", "founded_by", "born_year"),
	qp(`^Who founded the company that published (.+)\?$`, "", "published_by", "founded_by"),
	qp(`^Who founded the studio that produced (.+)\?$`, "", "produced_by", "founded_by"),
	qp(`^In which country is (.+) headquartered\?$`, "", "headquartered_in", "located_in"),
	qp(`^In what year was the society that (.+) belonged to founded\?$`, "", "member_of", "founded_year"),
	qp(`^In which country was the author of (.+) born\?$`, "", "author", "born_in", "located_in"),
	qp(`^In which country was the director of (.+) born\?$`, "", "director", "born_in", "located_in"),
	qp(`^Where was the founder of the company that published (.+) born\?$`, "", "published_by", "founded_by", "born_in"),
	qp(`^What is the capital of the country in which (.+) is headquartered\?$`, "", "headquartered_in", "located_in", "capital"),
	qp(`^What is the capital of the country where the author of (.+) was born\?$`, "", "author", "born_in", "located_in", "capital"),
	qp(`^What is the capital of the country where the director of (.+) was born\?$`, "", "director", "born_in", "located_in", "capital"),
	qp(`^In which country was the founder of the company that published (.+) born\?$`, "", "published_by", "founded_by", "born_in", "located_in"),
	qp(`^In which country was the founder of the studio that produced (.+) born\?$`, "", "produced_by", "founded_by", "born_in", "located_in"),
	qp(`^Which was founded (earlier|later), the publisher of (.+) or the publisher of (.+)\?$`, "order-bridge", "published_by", "founded_year"),
	qp(`^Which was founded (earlier|later), (.+) or (.+)\?$`, "order", "founded_year"),
	qp(`^Who was born (earlier|later), (.+) or (.+)\?$`, "order", "born_year"),
	qp(`^Which was published (earlier|later), (.+) or (.+)\?$`, "order", "year"),
	qp(`^Which film was released (earlier|later), (.+) or (.+)\?$`, "order", "year"),
	qp(`^Are (.+) and (.+) in the same country\?$`, "same", "located_in"),
	qp(`^Which novel's author was born (earlier|later), (.+) or (.+)\?$`, "order", "author", "born_year"),
	qp(`^Which film's director was born (earlier|later), (.+) or (.+)\?$`, "order", "director", "born_year"),
	qp(`^Were the authors of (.+) and (.+) born in the same city\?$`, "same", "author", "born_in"),
	qp(`^Were the directors of (.+) and (.+) born in the same city\?$`, "same", "director", "born_in"),
}

// solve answers question from the table and returns the documents it read.
func (tb table) solve(question string) (answer string, docs []string, err error) {
	for _, p := range questionPatterns {
		m := p.re.FindStringSubmatch(question)
		if m == nil {
			continue
		}
		follow := func(start string) (values []string, err error) {
			at := start
			for _, rel := range p.path {
				url, ok := tb.doc[at]
				if !ok {
					return nil, fmt.Errorf("no document titled %q", at)
				}
				docs = append(docs, url)
				v, ok := tb.facts[at][rel]
				if !ok {
					return nil, fmt.Errorf("%s states no %s", url, rel)
				}
				values = append(values, v)
				at = v
			}
			return values, nil
		}
		switch p.combine {
		case "":
			v, err := follow(m[1])
			if err != nil {
				return "", nil, err
			}
			return v[len(v)-1], docs, nil
		case "same":
			a, err := follow(m[1])
			if err != nil {
				return "", nil, err
			}
			b, err := follow(m[2])
			if err != nil {
				return "", nil, err
			}
			if a[len(a)-1] == b[len(b)-1] {
				return "yes", docs, nil
			}
			return "no", docs, nil
		default:
			a, err := follow(m[2])
			if err != nil {
				return "", nil, err
			}
			b, err := follow(m[3])
			if err != nil {
				return "", nil, err
			}
			ya, _ := strconv.Atoi(a[len(a)-1])
			yb, _ := strconv.Atoi(b[len(b)-1])
			if ya == yb {
				return "", nil, fmt.Errorf("a tie: both %d", ya)
			}
			aWins := ya < yb == (m[1] == "earlier")
			names := [2]string{m[2], m[3]}
			if p.combine == "order-bridge" {
				names = [2]string{a[0], b[0]}
			}
			if aWins {
				return names[0], docs, nil
			}
			return names[1], docs, nil
		}
	}
	return "", nil, fmt.Errorf("no pattern matches")
}

// TestSolverDerivesEveryAnswer solves every question of several worlds from the
// documents alone and checks the gold answer and the recorded supporting documents.
func TestSolverDerivesEveryAnswer(t *testing.T) {
	for _, seed := range []int64{1, 2, 99} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			w, err := world.Generate(seed, 300)
			if err != nil {
				t.Fatal(err)
			}
			tb := readDocuments(t, w.Documents())
			// The documents state every fact of the world and no other.
			n := 0
			for _, f := range tb.facts {
				n += len(f)
			}
			if got := len(w.Facts()); n != got {
				t.Errorf("documents state %d facts, the world has %d", n, got)
			}
			for _, f := range w.Facts() {
				subj, _ := w.Entity(f.Subject)
				want := f.Object
				if o, ok := w.Entity(f.Object); ok {
					want = o.Name
				}
				if got := tb.facts[subj.Name][string(f.Relation)]; got != want {
					t.Errorf("%s %s: documents say %q, world %q", f.Subject, f.Relation, got, want)
				}
			}
			qs := w.Questions("")
			if len(qs) < 2*300*9/10 {
				t.Errorf("%d questions for 300 people, want about 600", len(qs))
			}
			for _, q := range qs {
				answer, docs, err := tb.solve(q.Question)
				if err != nil {
					t.Errorf("%s %q: %v", q.ID, q.Question, err)
					continue
				}
				if answer != q.Answer {
					t.Errorf("%s %q: solver answers %q, gold %q", q.ID, q.Question, answer, q.Answer)
				}
				var want []string
				for _, s := range q.Supporting {
					want = append(want, s.Doc)
				}
				if !slices.Equal(docs, want) {
					t.Errorf("%s %q: solver read %v, supporting %v", q.ID, q.Question, docs, want)
				}
			}
		})
	}
}

// TestSolverDerivesEveryContrast checks Contrast with the solver: the question asked
// the other way round has the answer the documents give it, the other branch's, and
// every comparison of years has one.
func TestSolverDerivesEveryContrast(t *testing.T) {
	w, err := world.Generate(2, 300)
	if err != nil {
		t.Fatal(err)
	}
	tb := readDocuments(t, w.Documents())
	years, contrasts := 0, 0
	for _, q := range w.Questions("") {
		c, ok := w.Contrast(q)
		ordered := strings.Contains(q.Question, " earlier, ") || strings.Contains(q.Question, " later, ")
		if ordered {
			years++
		}
		if ok != ordered {
			t.Errorf("%s %q: Contrast ok %v", q.ID, q.Question, ok)
		}
		if !ok {
			continue
		}
		contrasts++
		if c.Question == q.Question || c.Answer == q.Answer || c.ID != q.ID+"-contrast" {
			t.Errorf("%s: contrast %q / %q of %q / %q", q.ID, c.Question, c.Answer, q.Question, q.Answer)
		}
		answer, _, err := tb.solve(c.Question)
		if err != nil {
			t.Errorf("%s %q: %v", c.ID, c.Question, err)
		} else if answer != c.Answer {
			t.Errorf("%s %q: solver answers %q, contrast %q", c.ID, c.Question, answer, c.Answer)
		}
		if back, ok := w.Contrast(c); !ok || back.Question != q.Question || back.Answer != q.Answer {
			t.Errorf("%s: the contrast's contrast is %q / %q", q.ID, back.Question, back.Answer)
		}
	}
	if years < 50 || contrasts != years {
		t.Errorf("%d contrasts of %d comparisons of years", contrasts, years)
	}
}
