package world

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The word lists are invented or common words, so a model cannot answer from what
// it already knows about the real world.
var (
	givenFemale = strings.Fields(`Ada Alma Anika Beatrix Bettina Calla Celine Dagny Delia
		Edda Elin Elvira Fenna Freya Greta Hedda Ilse Imke Ines Jora Karin Lena Liora
		Maren Mira Nadia Nora Orla Petra Rhea Runa Selma Sigrid Talia Tova Una Vera
		Wanda Ylva Zora`)
	givenMale = strings.Fields(`Aldo Anton Arne Bastian Bruno Cael Cyril Dario Edvin
		Emil Falk Felix Gero Gustav Hakon Ilian Ivo Jarek Joren Kasimir Lars Leon
		Linus Malte Milo Nils Oskar Otto Pavel Quirin Rasmus Roald Soren Teodor Tobin
		Urban Valter Viggo Wenzel Yannic`)
	surnamePrefix = strings.Fields(`Ash Bel Bran Cal Dal Eck Fal Gren Hal Holm Ivar Jans
		Kel Lind Mar Nor Ost Pell Quen Rav Sal Stor Tal Ulm Var Vest Wal Wick Yar Zell
		Ber Dorn Fenn Grim Harl Kross Lor Mor Ness Rund`)
	surnameSuffix = strings.Fields(`berg by dahl strom mark wood ford ley ton well
		gren quist holt man son ridge mere wick feld stead hurst lund vik sen ar en
		ing ow ard ett`)
	placePrefix = strings.Fields(`Al Bar Cor Dun Eld Fir Gal Hav Ist Jor Kal Lum Mer Nav
		Orv Pra Quel Ros Sev Tor Ulv Vel Wyn Xan Yor Zan Bre Cas Dra Esk Fro Gund Hel
		Kor Lys Mal Nar Pol Sar Tav`)
	placeMiddle = strings.Fields(`a e i o u an el or is`)
	placeSuffix = strings.Fields(`holm mouth ford haven burg stad wick field port
		minster gate crest dale moor vale bridge ton by thorpe ness mere cliff grove
		hollow reach spire wold stow`)
	countryStem = strings.Fields(`Ald Bor Cer Dal Eth Fen Gor Hal Ister Jun Kar Lor Mor
		Nor Ost Pel Quar Rav Sol Tam Ulm Ver Wes Xer Yl Zer Ar Bel Cal Dor`)
	countrySuffix = strings.Fields(`ia ania land mark ovia ora enia istan`)
	adjectives    = strings.Fields(`Silent Hidden Last Golden Broken Distant Crimson
		Quiet Winter Burning Hollow Iron Paper Glass Salt Northern Forgotten Wild
		Pale Secret Long Bitter Narrow Endless Sleeping Wandering Bright Dark Lost
		Second Shifting Sunken Wooden Velvet Restless Falling Frozen Green Blue Final`)
	nouns = strings.Fields(`River Garden Harbour Tower Orchard Lantern Mirror Station
		Bridge Forest Letter Island Season Voyage Archive Window Shore Meadow Engine
		Compass Orchestra Kingdom Mountain Valley Lighthouse Circus Library Theatre
		Chapel Market Crossing Threshold Horizon Ember Tide Signal Winter Summer Feather
		Atlas Canal Quarry Monument Carnival Pilgrim Weaver Cartographer Gardener
		Harvest Tempest Silence Echo Labyrinth Citadel Ferry Observatory Vineyard`)
	pressKinds   = []string{"Press", "Books", "Publishing House"}
	studioKinds  = []string{"Pictures", "Studios", "Films"}
	societyKinds = []string{"Society", "Institute", "Academy", "Guild"}
	societyField = strings.Fields(`Sciences Letters Arts History Geography Music
		Architecture Natural-Philosophy Engineering Medicine`)
)

// errTooLarge is returned when the name pools run out of unique names.
var errTooLarge = errors.New("world too large for the name pools")

// namer hands out names unique across the whole world (all splits), such that no
// name is a run of words inside another ("Silent River" and "The Silent River",
// "Holmby" and "Ada Holmby"): a name found in a text then identifies one entity,
// which the split tests rely on.
type namer struct {
	r    *rng
	used map[string]bool // slugs of the names handed out
	runs map[string]bool // slugs of every run of words inside them
}

// unique draws names from gen until one fits.
func (n *namer) unique(what string, gen func() string) (string, error) {
	for range 2000 {
		s := gen()
		words := strings.Split(slug(s), "-")
		if n.runs[slug(s)] || slices.ContainsFunc(wordRuns(words), func(r string) bool { return n.used[r] }) {
			continue
		}
		n.reserve(s)
		return s, nil
	}
	return "", fmt.Errorf("%s names: %w", what, errTooLarge)
}

// reserve marks name as handed out.
func (n *namer) reserve(name string) {
	if n.used == nil {
		n.used, n.runs = map[string]bool{}, map[string]bool{}
	}
	n.used[slug(name)] = true
	for _, r := range wordRuns(strings.Split(slug(name), "-")) {
		n.runs[r] = true
	}
}

// wordRuns returns every run of consecutive words, joined by hyphens.
func wordRuns(words []string) []string {
	var out []string
	for i := range words {
		for j := i + 1; j <= len(words); j++ {
			out = append(out, strings.Join(words[i:j], "-"))
		}
	}
	return out
}

func (n *namer) surname() string {
	return pick(n.r, surnamePrefix) + pick(n.r, surnameSuffix)
}

func (n *namer) person(female bool) (string, error) {
	given := givenMale
	if female {
		given = givenFemale
	}
	return n.unique("person", func() string { return pick(n.r, given) + " " + n.surname() })
}

func (n *namer) city() (string, error) {
	return n.unique("city", func() string {
		if n.r.chance(0.3) {
			return pick(n.r, placePrefix) + pick(n.r, placeMiddle) + pick(n.r, placeSuffix)
		}
		return pick(n.r, placePrefix) + pick(n.r, placeSuffix)
	})
}

func (n *namer) country() (string, error) {
	return n.unique("country", func() string {
		return pick(n.r, countryStem) + pick(n.r, placeMiddle[:5]) + pick(n.r, countrySuffix)
	})
}

func (n *namer) title() (string, error) {
	return n.unique("title", func() string {
		switch n.r.intn(4) {
		case 0:
			return "The " + pick(n.r, adjectives) + " " + pick(n.r, nouns)
		case 1:
			return "The " + pick(n.r, nouns) + " of " + pick(n.r, placePrefix) + pick(n.r, placeSuffix)
		case 2:
			return pick(n.r, adjectives) + " " + pick(n.r, nouns)
		default:
			noun := pick(n.r, nouns)
			return strings.ToUpper(article(noun)[:1]) + article(noun)[1:] + " " + noun + " for " + pick(n.r, givenFemale)
		}
	})
}

func (n *namer) organisation(kind OrgKind) (string, error) {
	return n.unique("organisation", func() string {
		switch kind {
		case Press:
			return n.surname() + " " + pick(n.r, pressKinds)
		case Studio:
			return n.surname() + " " + pick(n.r, studioKinds)
		default:
			field := strings.ReplaceAll(pick(n.r, societyField), "-", " ")
			return n.surname() + " " + pick(n.r, societyKinds) + " of " + field
		}
	})
}

// slug turns a name into the last part of a document URL: lower case, letters and
// digits, words joined by hyphens.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(c)
			continue
		}
		dash = true
	}
	return b.String()
}
