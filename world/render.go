package world

import (
	"strconv"
	"strings"
)

// Document is one entity's page.
type Document struct {
	URL    string `json:"url"`    // world://people/ada-smith
	Path   string `json:"path"`   // people/ada-smith.md, slash-separated, relative to the corpus folder
	Title  string `json:"title"`  // the entity's name
	Entity string `json:"entity"` // the entity's ID
	Split  Split  `json:"split"`
	Text   string `json:"text"` // Markdown: a "# Title" heading and one paragraph
}

// render writes the documents of split's entities. A fact is stated only in its
// subject's document, in one of a few phrasings; distractors name other entities of
// the same split, or years that are not the fact's, in phrasings no fact uses.
func (w *World) render(r *rng, split Split) {
	var people, cities, countries, orgs, works []Entity
	for _, e := range w.entities {
		if e.Split != split {
			continue
		}
		switch e.Kind {
		case Person:
			people = append(people, e)
		case City:
			cities = append(cities, e)
		case Country:
			countries = append(countries, e)
		case Organisation:
			orgs = append(orgs, e)
		case Work:
			works = append(works, e)
		}
	}
	other := func(pool []Entity, not string) string {
		for range 8 {
			if e := pick(r, pool); e.ID != not {
				return e.Name
			}
		}
		return ""
	}
	for _, e := range w.entities {
		if e.Split != split {
			continue
		}
		f := w.index[e.ID]
		name := func(rel Relation) string { return w.entities[w.byID[f[rel]]].Name }
		var facts, distract []string
		either := func(a, b string) string {
			if r.chance(0.5) {
				return a
			}
			return b
		}
		switch e.Kind {
		case Person:
			pro := "He"
			if e.Female {
				pro = "She"
			}
			facts = append(facts, e.Name+" was "+article(e.Class)+" "+e.Class+".")
			facts = append(facts, either(
				e.Name+" was born in "+name(BornIn)+" in "+f[BornYear]+".",
				pro+" was born in "+f[BornYear]+" in "+name(BornIn)+"."))
			if d := f[DiedYear]; d != "" {
				facts = append(facts, either(pro+" died in "+d+".", e.Name+" died in "+d+"."))
			}
			if f[MemberOf] != "" {
				facts = append(facts, either(
					pro+" was a member of the "+name(MemberOf)+".",
					e.Name+" joined the "+name(MemberOf)+"."))
			}
			if o := other(people, e.ID); o != "" {
				distract = append(distract, pro+" corresponded for many years with "+o+".")
			}
			if c := other(cities, f[BornIn]); c != "" && r.chance(0.6) {
				distract = append(distract, "In later life "+strings.ToLower(pro)+" spent several years in "+c+".")
			}
			if r.chance(0.5) {
				born, _ := strconv.Atoi(f[BornYear])
				distract = append(distract, "A biography of "+e.Name+" appeared in "+strconv.Itoa(born+r.between(60, 140))+".")
			}
			if s := w.namesake(people, e); s != "" {
				distract = append(distract, e.Name+" is not to be confused with "+s+".")
			}
		case City:
			facts = append(facts, pick(r, []string{
				e.Name + " is a city in " + name(LocatedIn) + ".",
				e.Name + " is a town in " + name(LocatedIn) + ".",
				"The city of " + e.Name + " lies in " + name(LocatedIn) + ".",
			}))
			distract = append(distract, e.Name+" is known for its "+pick(r, cityFeatures)+".")
			if c := other(cities, e.ID); c != "" {
				distract = append(distract, "It is linked by rail to "+c+".")
			}
		case Country:
			facts = append(facts, e.Name+" is a country.")
			facts = append(facts, either("Its capital is "+name(Capital)+".", "The capital of "+e.Name+" is "+name(Capital)+"."))
			if c := other(countries, e.ID); c != "" {
				distract = append(distract, e.Name+" has long traded with "+c+".")
			}
			distract = append(distract, "Its national day falls in "+pick(r, months)+".")
		case Organisation:
			kind := map[OrgKind]string{Press: "a publishing house", Studio: "a film studio", Society: "a learned society"}[e.Class]
			facts = append(facts, either(
				e.Name+" is "+kind+" founded in "+f[FoundedYear]+" by "+name(FoundedBy)+".",
				name(FoundedBy)+" founded "+e.Name+", "+kind+", in "+f[FoundedYear]+"."))
			facts = append(facts, either("It is headquartered in "+name(HeadquarteredIn)+".", e.Name+" is based in "+name(HeadquarteredIn)+"."))
			if o := other(orgs, e.ID); o != "" {
				distract = append(distract, "It has worked closely with "+o+".")
			}
			if c := other(cities, f[HeadquarteredIn]); c != "" {
				y, _ := strconv.Atoi(f[FoundedYear])
				distract = append(distract, "In "+strconv.Itoa(y+r.between(5, 60))+" it opened an office in "+c+".")
			}
		case Work:
			y, _ := strconv.Atoi(f[Year])
			if e.Class == Novel {
				facts = append(facts, either(
					e.Name+" is a novel by "+name(Author)+", first published in "+f[Year]+".",
					e.Name+" is a "+f[Year]+" novel written by "+name(Author)+"."))
				if f[PublishedBy] != "" {
					facts = append(facts, either("It was published by "+name(PublishedBy)+".", name(PublishedBy)+" published the book."))
				}
				distract = append(distract, "A revised edition appeared in "+strconv.Itoa(y+r.between(3, 40))+".")
			} else {
				facts = append(facts, either(
					e.Name+" is a film directed by "+name(Director)+", released in "+f[Year]+".",
					e.Name+" is a "+f[Year]+" film directed by "+name(Director)+"."))
				if f[ProducedBy] != "" {
					facts = append(facts, either("It was produced by "+name(ProducedBy)+".", name(ProducedBy)+" produced the film."))
				}
				distract = append(distract, "A restored version was shown in "+strconv.Itoa(y+r.between(10, 50))+".")
			}
			if o := other(works, e.ID); o != "" {
				distract = append(distract, "It is often compared with "+o+".")
			}
			if p := other(people, ""); p != "" && r.chance(0.5) {
				distract = append(distract, p+" praised it in a review.")
			}
		}
		// Distractors go anywhere after the opening sentence.
		sentences := facts
		for _, d := range distract {
			at := 1 + r.intn(len(sentences))
			sentences = append(sentences[:at], append([]string{d}, sentences[at:]...)...)
		}
		w.docs = append(w.docs, Document{
			URL:    e.URL(),
			Path:   e.ID + ".md",
			Title:  e.Name,
			Entity: e.ID,
			Split:  split,
			Text:   "# " + e.Name + "\n\n" + strings.Join(sentences, " ") + "\n",
		})
	}
}

// namesake is another person of the same split and surname, "" when there is none.
func (w *World) namesake(people []Entity, e Entity) string {
	surname := e.Name[strings.LastIndexByte(e.Name, ' ')+1:]
	for _, p := range people {
		if p.ID != e.ID && strings.HasSuffix(p.Name, " "+surname) {
			return p.Name
		}
	}
	return ""
}

func article(word string) string {
	if strings.ContainsAny(strings.ToLower(word[:1]), "aeiou") {
		return "an"
	}
	return "a"
}

var (
	cityFeatures = []string{"harbour", "old market", "cathedral", "university", "bridges", "textile mills", "gardens", "clock tower"}
	months       = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
)
