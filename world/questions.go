package world

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Type is the shape of a question's reasoning.
type Type string

// The question types.
const (
	// Bridge follows two facts, the second from the entity the first names.
	Bridge Type = "bridge"
	// Chain follows three or four facts in a row.
	Chain Type = "chain"
	// Comparison reads one fact on each of two entities and compares them.
	Comparison Type = "comparison"
	// BridgeComparison follows two facts on each of two parallel branches and
	// compares the ends.
	BridgeComparison Type = "bridge-comparison"
)

// Question is a multi-hop question with its gold answer and the facts that give it.
type Question struct {
	ID       string `json:"id"`
	Question string `json:"question"`
	// Answer is an entity's name, a year, or "yes" or "no".
	Answer string `json:"answer"`
	Type   Type   `json:"type"`
	// Hops is the number of supporting facts, each read from one document.
	Hops  int   `json:"hops"`
	Split Split `json:"split"`
	// Entities are the IDs of every entity the question involves, in the order a
	// solver meets them: those it names, the bridges, and the answer.
	Entities []string `json:"entities"`
	// Supporting are the facts that answer it, in the order a solver follows them
	// (branch by branch for comparisons).
	Supporting []Support `json:"supporting"`
}

// Support is one supporting fact: where it is stated and the sub-question it answers.
type Support struct {
	Doc string `json:"doc"` // the URL of the document stating it: its subject's
	Fact
	Question string `json:"question"` // the sub-question, e.g. "Who wrote The Silent River?"
	Answer   string `json:"answer"`   // its answer: a name or a year
}

// Documents returns the distinct URLs of q's supporting documents, in order.
func (q Question) Documents() []string {
	var out []string
	for _, s := range q.Supporting {
		if !slices.Contains(out, s.Doc) {
			out = append(out, s.Doc)
		}
	}
	return out
}

type chainTemplate struct {
	typ   Type
	start string // the Class of the starting entity (Novel, Film, an OrgKind) or its Kind
	path  []Relation
	text  string // %s is the start's name
}

var chainTemplates = []chainTemplate{
	{Bridge, Novel, []Relation{Author, BornIn}, "Where was the author of %s born?"},
	{Bridge, Film, []Relation{Director, BornIn}, "Where was the director of %s born?"},
	{Bridge, Novel, []Relation{Author, BornYear}, "In what year was the author of %s born?"},
	{Bridge, string(Organisation), []Relation{FoundedBy, BornYear}, "In what year was the founder of %s born?"},
	{Bridge, Novel, []Relation{PublishedBy, FoundedBy}, "Who founded the company that published %s?"},
	{Bridge, Film, []Relation{ProducedBy, FoundedBy}, "Who founded the studio that produced %s?"},
	{Bridge, string(Organisation), []Relation{HeadquarteredIn, LocatedIn}, "In which country is %s headquartered?"},
	{Bridge, string(Person), []Relation{MemberOf, FoundedYear}, "In what year was the society that %s belonged to founded?"},
	{Chain, Novel, []Relation{Author, BornIn, LocatedIn}, "In which country was the author of %s born?"},
	{Chain, Film, []Relation{Director, BornIn, LocatedIn}, "In which country was the director of %s born?"},
	{Chain, Novel, []Relation{PublishedBy, FoundedBy, BornIn}, "Where was the founder of the company that published %s born?"},
	{Chain, Film, []Relation{ProducedBy, FoundedBy, BornYear}, "In what year was the founder of the studio that produced %s born?"},
	{Chain, string(Organisation), []Relation{HeadquarteredIn, LocatedIn, Capital}, "What is the capital of the country in which %s is headquartered?"},
	{Chain, Novel, []Relation{Author, BornIn, LocatedIn, Capital}, "What is the capital of the country where the author of %s was born?"},
	{Chain, Film, []Relation{Director, BornIn, LocatedIn, Capital}, "What is the capital of the country where the director of %s was born?"},
	{Chain, Novel, []Relation{PublishedBy, FoundedBy, BornIn, LocatedIn}, "In which country was the founder of the company that published %s born?"},
	{Chain, Film, []Relation{ProducedBy, FoundedBy, BornIn, LocatedIn}, "In which country was the founder of the studio that produced %s born?"},
}

// How a comparison is answered.
const (
	answerStart  = iota // the name of the branch's start, whose end is earlier or later
	answerBridge        // the name of the branch's first object
	answerSame          // yes or no: do the branches end at the same entity
)

type compareTemplate struct {
	typ    Type
	start  string
	path   []Relation
	answer int
	text   string // %[1]s is "earlier" or "later", %[2]s and %[3]s the starts' names
}

var compareTemplates = []compareTemplate{
	{Comparison, string(Organisation), []Relation{FoundedYear}, answerStart, "Which was founded %[1]s, %[2]s or %[3]s?"},
	{Comparison, string(Person), []Relation{BornYear}, answerStart, "Who was born %[1]s, %[2]s or %[3]s?"},
	{Comparison, Novel, []Relation{Year}, answerStart, "Which was published %[1]s, %[2]s or %[3]s?"},
	{Comparison, Film, []Relation{Year}, answerStart, "Which film was released %[1]s, %[2]s or %[3]s?"},
	{Comparison, string(City), []Relation{LocatedIn}, answerSame, "Are %[2]s and %[3]s in the same country?"},
	{BridgeComparison, Novel, []Relation{Author, BornYear}, answerStart, "Which novel's author was born %[1]s, %[2]s or %[3]s?"},
	{BridgeComparison, Film, []Relation{Director, BornYear}, answerStart, "Which film's director was born %[1]s, %[2]s or %[3]s?"},
	{BridgeComparison, Novel, []Relation{PublishedBy, FoundedYear}, answerBridge, "Which was founded %[1]s, the publisher of %[2]s or the publisher of %[3]s?"},
	{BridgeComparison, Novel, []Relation{Author, BornIn}, answerSame, "Were the authors of %[2]s and %[3]s born in the same city?"},
	{BridgeComparison, Film, []Relation{Director, BornIn}, answerSame, "Were the directors of %[2]s and %[3]s born in the same city?"},
}

// subQuestions phrase the question a single fact answers; %s is the subject's name.
var subQuestions = map[Relation]string{
	BornIn:          "Where was %s born?",
	BornYear:        "In what year was %s born?",
	DiedYear:        "In what year did %s die?",
	MemberOf:        "Which society was %s a member of?",
	LocatedIn:       "In which country is %s?",
	Capital:         "What is the capital of %s?",
	FoundedBy:       "Who founded %s?",
	FoundedYear:     "In what year was %s founded?",
	HeadquarteredIn: "Where is %s headquartered?",
	Author:          "Who wrote %s?",
	Director:        "Who directed %s?",
	PublishedBy:     "Who published %s?",
	ProducedBy:      "Which studio produced %s?",
	Year:            "In what year did %s come out?",
}

// follow walks path from start and returns the facts, nil when a fact is missing.
func (w *World) follow(start string, path []Relation) []Support {
	var out []Support
	at := start
	for _, rel := range path {
		o := w.index[at][rel]
		if o == "" {
			return nil
		}
		subj := w.entities[w.byID[at]]
		out = append(out, Support{
			Doc:      subj.URL(),
			Fact:     Fact{at, rel, o},
			Question: fmt.Sprintf(subQuestions[rel], subj.Name),
			Answer:   w.display(o),
		})
		at = o
	}
	return out
}

// display is an object as an answer says it: an entity's name, or the year.
func (w *World) display(object string) string {
	if i, ok := w.byID[object]; ok {
		return w.entities[i].Name
	}
	return object
}

func (w *World) starts(split Split, class string, path []Relation) []Entity {
	var out []Entity
	for _, e := range w.entities {
		if e.Split == split && (e.Class == class || string(e.Kind) == class) && w.follow(e.ID, path) != nil {
			out = append(out, e)
		}
	}
	return out
}

// ask generates up to n distinct questions of split, the four types in turn.
func (w *World) ask(r *rng, split Split, n int) {
	chains := map[Type][]int{}
	for i, t := range chainTemplates {
		chains[t.typ] = append(chains[t.typ], i)
	}
	compares := map[Type][]int{}
	for i, t := range compareTemplates {
		compares[t.typ] = append(compares[t.typ], i)
	}
	chainStarts := make([][]Entity, len(chainTemplates))
	for i, t := range chainTemplates {
		chainStarts[i] = w.starts(split, t.start, t.path)
	}
	compareStarts := make([][]Entity, len(compareTemplates))
	for i, t := range compareTemplates {
		compareStarts[i] = w.starts(split, t.start, t.path)
	}
	types := []Type{Bridge, Chain, Comparison, BridgeComparison}
	seen := map[string]bool{}
	var made []Question
	for try := 0; len(made) < n && try < 20*n; try++ {
		var q Question
		var ok bool
		switch typ := types[try%len(types)]; typ {
		case Bridge, Chain:
			i := pick(r, chains[typ])
			q, ok = w.chainQuestion(r, chainTemplates[i], chainStarts[i])
		default:
			i := pick(r, compares[typ])
			q, ok = w.compareQuestion(r, compareTemplates[i], compareStarts[i])
		}
		if !ok || seen[q.Question] {
			continue
		}
		seen[q.Question] = true
		q.ID = fmt.Sprintf("%s-%04d", split, len(made))
		q.Split = split
		q.Hops = len(q.Supporting)
		q.Entities = entitiesOf(w, q.Supporting)
		made = append(made, q)
	}
	w.questions = append(w.questions, made...)
}

func entitiesOf(w *World, sup []Support) []string {
	var out []string
	for _, s := range sup {
		for _, id := range []string{s.Subject, s.Object} {
			if _, isEntity := w.byID[id]; isEntity && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

func (w *World) chainQuestion(r *rng, t chainTemplate, starts []Entity) (Question, bool) {
	if len(starts) == 0 {
		return Question{}, false
	}
	s := pick(r, starts)
	sup := w.follow(s.ID, t.path)
	return Question{
		Question:   fmt.Sprintf(t.text, s.Name),
		Answer:     sup[len(sup)-1].Answer,
		Type:       t.typ,
		Supporting: sup,
	}, true
}

func (w *World) compareQuestion(r *rng, t compareTemplate, starts []Entity) (Question, bool) {
	if len(starts) < 2 {
		return Question{}, false
	}
	a := pick(r, starts)
	fa := w.follow(a.ID, t.path)
	endA := fa[len(fa)-1].Object
	wantSame := t.answer == answerSame && r.chance(0.5)
	var b Entity
	var fb []Support
	for range 16 {
		b = pick(r, starts)
		fb = w.follow(b.ID, t.path)
		endB := fb[len(fb)-1].Object
		switch {
		case b.ID == a.ID, len(fa) > 1 && fa[0].Object == fb[0].Object:
			// The same start, or the same bridge: no comparison at all.
		case t.answer == answerSame && wantSame != (endA == endB):
		case t.answer != answerSame && endA == endB:
			// A tie has no answer.
		default:
			return w.compared(r, t, a, b, fa, fb), true
		}
	}
	return Question{}, false
}

func (w *World) compared(r *rng, t compareTemplate, a, b Entity, fa, fb []Support) Question {
	q := Question{Type: t.typ, Supporting: append(slices.Clone(fa), fb...)}
	endA, endB := fa[len(fa)-1].Object, fb[len(fb)-1].Object
	if t.answer == answerSame {
		q.Question = fmt.Sprintf(t.text, "", a.Name, b.Name)
		q.Answer = map[bool]string{true: "yes", false: "no"}[endA == endB]
		return q
	}
	ya, _ := strconv.Atoi(endA)
	yb, _ := strconv.Atoi(endB)
	word, aWins := "earlier", ya < yb
	if r.chance(0.5) {
		word, aWins = "later", ya > yb
	}
	q.Question = fmt.Sprintf(t.text, word, a.Name, b.Name)
	winner, winnerFacts := a.Name, fa
	if !aWins {
		winner, winnerFacts = b.Name, fb
	}
	q.Answer = winner
	if t.answer == answerBridge {
		q.Answer = winnerFacts[0].Answer
	}
	return q
}

// Contrast returns the comparison of years q asked the other way round ("later" for
// "earlier", or back) with the other branch's answer, and the ID q.ID+"-contrast".
// Trained on both halves of such a pair, whose plans differ in that word alone and
// whose answers differ, a model must read the comparative from the question; trained
// on one half, it can guess the word and be right half the time. ok is false for
// every other question.
func (w *World) Contrast(q Question) (Question, bool) {
	y, ok := w.Years(q)
	if !ok {
		return Question{}, false
	}
	c := q
	c.ID = q.ID + "-contrast"
	c.Question = strings.Replace(q.Question, " "+y.Word+", ", " "+opposite[y.Word]+", ", 1)
	c.Answer = y.candidates[1-y.winner][y.kind()]
	c.Supporting = slices.Clone(q.Supporting)
	c.Entities = slices.Clone(q.Entities)
	return c, true
}

var opposite = map[string]string{"earlier": "later", "later": "earlier"}

// YearComparison is how a comparison of years is asked and answered.
type YearComparison struct {
	Word string // the comparative: "earlier" or "later"
	// Bridged: the question names its candidates through the branches' first
	// objects ("the publisher of X"), and the answer is one of those, not one of
	// the branches' starts.
	Bridged    bool
	candidates [2][]string // each branch's start's name and first object's
	winner     int         // the branch that answers
}

func (y YearComparison) kind() int {
	if y.Bridged {
		return 1
	}
	return 0
}

// Years reads q as a comparison of years; ok is false for every other question.
func (w *World) Years(q Question) (YearComparison, bool) {
	var y YearComparison
	switch {
	case q.Type != Comparison && q.Type != BridgeComparison, len(q.Supporting)%2 != 0:
		return y, false
	case strings.Count(q.Question, " earlier, ") == 1 && !strings.Contains(q.Question, " later, "):
		y.Word = "earlier"
	case strings.Count(q.Question, " later, ") == 1 && !strings.Contains(q.Question, " earlier, "):
		y.Word = "later"
	default:
		return y, false
	}
	half := len(q.Supporting) / 2
	for b, branch := range [2][]Support{q.Supporting[:half], q.Supporting[half:]} {
		start, ok := w.byID[branch[0].Subject]
		if !ok {
			return y, false
		}
		y.candidates[b] = []string{w.entities[start].Name, branch[0].Answer}
	}
	for k := range y.candidates[0] {
		for b := range y.candidates {
			if q.Answer == y.candidates[b][k] {
				y.Bridged, y.winner = k == 1, b
				return y, true
			}
		}
	}
	return y, false
}
