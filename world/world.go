package world

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Scheme prefixes every document URL: world://people/ada-smith.
const Scheme = "world://"

// Size limits of Generate: below MinSize the test split would be too small to hold
// every kind of question; above MaxSize the name pools run thin.
const (
	MinSize = 100
	MaxSize = 5000
)

// ErrSize is returned by Generate for a size outside [MinSize, MaxSize].
var ErrSize = errors.New("world size out of range")

// Split is one of the three disjoint parts of a world.
type Split string

// The splits, in the proportions 80/10/10 of the people.
const (
	Train Split = "train"
	Dev   Split = "dev"
	Test  Split = "test"
)

// Splits lists the splits in order.
var Splits = []Split{Train, Dev, Test}

// Kind is what an entity is.
type Kind string

// The kinds of entity. The folder of a kind's documents is its plural form.
const (
	Person       Kind = "person"
	City         Kind = "city"
	Country      Kind = "country"
	Organisation Kind = "organisation"
	Work         Kind = "work"
)

var folders = map[Kind]string{
	Person: "people", City: "cities", Country: "countries",
	Organisation: "organisations", Work: "works",
}

// OrgKind is what an organisation does; its Entity.Class.
type OrgKind = string

// The kinds of organisation.
const (
	Press   OrgKind = "press"   // publishes novels
	Studio  OrgKind = "studio"  // produces films
	Society OrgKind = "society" // has members
)

// The kinds of work; a work's Entity.Class.
const (
	Novel = "novel"
	Film  = "film"
)

// Entity is one thing in the world.
type Entity struct {
	ID    string // "people/ada-smith": the document's path without extension
	Kind  Kind
	Name  string // unique in the world
	Split Split
	// Class refines the kind: a person's occupation ("novelist"), an organisation's
	// OrgKind, a work's form (Novel, Film); empty for places.
	Class  string
	Female bool // for a person, the pronoun the documents use
}

// URL is the entity's document URL, Scheme + ID.
func (e Entity) URL() string { return Scheme + e.ID }

// Relation names a fact's predicate.
type Relation string

// The relations. The object of BornYear, DiedYear, FoundedYear and Year is a year,
// of the others an entity ID.
const (
	BornIn          Relation = "born_in"          // person -> city
	BornYear        Relation = "born_year"        // person -> year
	DiedYear        Relation = "died_year"        // person -> year
	MemberOf        Relation = "member_of"        // person -> society
	LocatedIn       Relation = "located_in"       // city -> country
	Capital         Relation = "capital"          // country -> city
	FoundedBy       Relation = "founded_by"       // organisation -> person
	FoundedYear     Relation = "founded_year"     // organisation -> year
	HeadquarteredIn Relation = "headquartered_in" // organisation -> city
	Author          Relation = "author"           // novel -> person
	Director        Relation = "director"         // film -> person
	PublishedBy     Relation = "published_by"     // novel -> press
	ProducedBy      Relation = "produced_by"      // film -> studio
	Year            Relation = "year"             // work -> year of publication or release
)

// Fact is one relation between an entity and an entity or a year.
type Fact struct {
	Subject  string   `json:"subject"`
	Relation Relation `json:"relation"`
	Object   string   `json:"object"`
}

// World is a generated knowledge base with its documents and questions.
type World struct {
	Seed int64
	Size int

	entities  []Entity
	byID      map[string]int
	facts     []Fact
	index     map[string]map[Relation]string // subject -> relation -> object
	docs      []Document
	questions []Question
}

// Entities returns every entity, grouped by split and kind.
func (w *World) Entities() []Entity { return slices.Clone(w.entities) }

// Entity returns the entity with the given ID.
func (w *World) Entity(id string) (Entity, bool) {
	i, ok := w.byID[id]
	if !ok {
		return Entity{}, false
	}
	return w.entities[i], true
}

// Facts returns every fact, each once, in the order generated.
func (w *World) Facts() []Fact { return slices.Clone(w.facts) }

// Object returns the object of subject's relation, "" when it has none. Every
// relation has at most one object per subject.
func (w *World) Object(subject string, rel Relation) string { return w.index[subject][rel] }

// Documents returns one document per entity, in the order of Entities.
func (w *World) Documents() []Document { return slices.Clone(w.docs) }

// Questions returns the questions of split, or all of them when split is "".
func (w *World) Questions(split Split) []Question {
	var out []Question
	for _, q := range w.questions {
		if split == "" || q.Split == split {
			out = append(out, q)
		}
	}
	return out
}

// Generate builds the world of the given seed with size people (MinSize to
// MaxSize), its documents and its questions (two per person).
func Generate(seed int64, size int) (*World, error) { return GenerateAvoiding(seed, size, nil) }

// GenerateAvoiding is Generate with names reserved: no entity is named one of
// avoid, nor a run of words inside one ("Holmby" when "Ada Holmby" is reserved),
// nor has one as a run of its words. Training worlds avoid an evaluation world's
// held-out names this way, so that a model trained on them has seen none of its
// test entities. The same seed, size and avoid give the same world.
func GenerateAvoiding(seed int64, size int, avoid []string) (*World, error) {
	if size < MinSize || size > MaxSize {
		return nil, fmt.Errorf("size %d: %w (want %d to %d)", size, ErrSize, MinSize, MaxSize)
	}
	w := &World{Seed: seed, Size: size, byID: map[string]int{}, index: map[string]map[Relation]string{}}
	n := &namer{r: newRNG(seed, 1)}
	for _, name := range avoid {
		n.reserve(name)
	}
	people := map[Split]int{Train: size - 2*(size/10), Dev: size / 10, Test: size / 10}
	for i, s := range Splits {
		g := &generator{w: w, n: n, r: newRNG(seed, uint64(10+i)), split: s}
		if err := g.component(people[s]); err != nil {
			return nil, fmt.Errorf("world %d/%d: %s split: %w", seed, size, s, err)
		}
	}
	for i, s := range Splits {
		w.render(newRNG(seed, uint64(20+i)), s)
	}
	for i, s := range Splits {
		w.ask(newRNG(seed, uint64(30+i)), s, 2*people[s])
	}
	return w, nil
}

// lastYear bounds every date: nothing happens after it.
const lastYear = 2020

type generator struct {
	w     *World
	n     *namer
	r     *rng
	split Split
}

type personInfo struct {
	id          string
	born, died  int // died is 0 while alive
	founded     bool
	occupation  string
	worksOfKind string // Novel, Film or ""
}

// end is the last year the person could act in.
func (p personInfo) end() int {
	if p.died == 0 {
		return lastYear
	}
	return p.died
}

type orgInfo struct {
	id      string
	kind    OrgKind
	founded int
}

var otherOccupations = []string{"painter", "physicist", "composer", "architect", "botanist", "historian", "engineer", "philosopher"}

func (g *generator) add(e Entity) string {
	e.ID = folders[e.Kind] + "/" + slug(e.Name)
	e.Split = g.split
	g.w.byID[e.ID] = len(g.w.entities)
	g.w.entities = append(g.w.entities, e)
	return e.ID
}

func (g *generator) fact(s string, rel Relation, o string) {
	g.w.facts = append(g.w.facts, Fact{s, rel, o})
	if g.w.index[s] == nil {
		g.w.index[s] = map[Relation]string{}
	}
	g.w.index[s][rel] = o
}

// component generates one split's entities and facts.
func (g *generator) component(nPeople int) error {
	r := g.r
	var countries, cities []string
	for range max(2, nPeople/30) {
		name, err := g.n.country()
		if err != nil {
			return err
		}
		countries = append(countries, g.add(Entity{Kind: Country, Name: name}))
	}
	for i := range max(2*len(countries), nPeople/6) {
		name, err := g.n.city()
		if err != nil {
			return err
		}
		c := g.add(Entity{Kind: City, Name: name})
		cities = append(cities, c)
		country := pick(r, countries)
		if i < len(countries) {
			country = countries[i] // every country has a city: its capital
			g.fact(country, Capital, c)
		}
		g.fact(c, LocatedIn, country)
	}

	people := make([]personInfo, nPeople)
	for i := range people {
		female := r.chance(0.5)
		name, err := g.n.person(female)
		if err != nil {
			return err
		}
		p := personInfo{born: r.between(1800, 1975)}
		switch i % 5 {
		case 0, 1:
			p.occupation, p.worksOfKind = "novelist", Novel
		case 2:
			// Films exist from the 1890s.
			p.occupation, p.worksOfKind = "film director", Film
			p.born = r.between(1860, 1975)
		default:
			p.occupation = pick(r, otherOccupations)
		}
		if d := p.born + r.between(45, 95); d <= lastYear {
			p.died = d
		}
		p.id = g.add(Entity{Kind: Person, Name: name, Class: p.occupation, Female: female})
		people[i] = p
		g.fact(p.id, BornIn, pick(r, cities))
		g.fact(p.id, BornYear, strconv.Itoa(p.born))
		if p.died != 0 {
			g.fact(p.id, DiedYear, strconv.Itoa(p.died))
		}
	}

	var orgs []orgInfo
	kinds := []OrgKind{Press, Studio, Society}
	for i := range max(3, nPeople/5) {
		kind := kinds[i%3]
		// A founder is at least 22 and alive; each person founds one organisation
		// at most, so "the founder of" and "founded by" name one person.
		var cands []int
		for j, p := range people {
			if !p.founded && p.born+22 <= p.end() {
				cands = append(cands, j)
			}
		}
		if len(cands) == 0 {
			break
		}
		f := &people[pick(r, cands)]
		f.founded = true
		name, err := g.n.organisation(kind)
		if err != nil {
			return err
		}
		o := orgInfo{kind: kind, founded: r.between(f.born+22, min(f.end(), f.born+70))}
		o.id = g.add(Entity{Kind: Organisation, Name: name, Class: kind})
		orgs = append(orgs, o)
		g.fact(o.id, FoundedBy, f.id)
		g.fact(o.id, FoundedYear, strconv.Itoa(o.founded))
		g.fact(o.id, HeadquarteredIn, pick(r, cities))
	}

	for _, p := range people {
		if p.worksOfKind == "" && !r.chance(0.6) || p.worksOfKind != "" && !r.chance(0.3) {
			continue
		}
		// Members join a society that exists before they are 80 and alive.
		var cands []orgInfo
		for _, o := range orgs {
			if o.kind == Society && o.founded <= min(p.end(), p.born+80) {
				cands = append(cands, o)
			}
		}
		if len(cands) > 0 {
			g.fact(p.id, MemberOf, pick(r, cands).id)
		}
	}

	for _, p := range people {
		first, last := p.born+20, min(p.end(), p.born+75)
		if p.worksOfKind == Film {
			first = max(first, 1890)
		}
		if p.worksOfKind == "" || first > last {
			continue
		}
		for range r.between(1, 3) {
			title, err := g.n.title()
			if err != nil {
				return err
			}
			year := r.between(first, last)
			w := g.add(Entity{Kind: Work, Name: title, Class: p.worksOfKind})
			makerRel, houseKind, houseRel := Author, Press, PublishedBy
			if p.worksOfKind == Film {
				makerRel, houseKind, houseRel = Director, Studio, ProducedBy
			}
			g.fact(w, makerRel, p.id)
			g.fact(w, Year, strconv.Itoa(year))
			var houses []string
			for _, o := range orgs {
				if o.kind == houseKind && o.founded <= year {
					houses = append(houses, o.id)
				}
			}
			if len(houses) > 0 {
				g.fact(w, houseRel, pick(r, houses))
			}
		}
	}
	return nil
}

// Names returns the names of split's entities, in the order of Entities.
func (w *World) Names(split Split) []string {
	var out []string
	for _, e := range w.entities {
		if e.Split == split {
			out = append(out, e.Name)
		}
	}
	return out
}
