package world_test

import (
	"fmt"
	"log"
	"os"

	"github.com/rewoo-agent/agent/world"
)

func Example() {
	w, err := world.Generate(1, 100)
	if err != nil {
		log.Fatal(err)
	}
	q := w.Questions(world.Test)[0]
	fmt.Println(q.Question)
	fmt.Println("answer:", q.Answer, "|", q.Type, q.Hops, "hops")
	for _, s := range q.Supporting {
		fmt.Println(" ", s.Doc, "->", s.Question, s.Answer)
	}
	fmt.Print(w.Documents()[0].Text)
	// Output:
	// Who founded the company that published A Signal for Calla?
	// answer: Felix Pellberg | bridge 2 hops
	//   world://works/a-signal-for-calla -> Who published A Signal for Calla? Harlfeld Books
	//   world://organisations/harlfeld-books -> Who founded Harlfeld Books? Felix Pellberg
	// # Borienia
	//
	// Borienia is a country. Its capital is Merspire. Its national day falls in September. Borienia has long traded with Zeraovia.
}

func ExampleWriteQuestions() {
	w, err := world.Generate(1, 100)
	if err != nil {
		log.Fatal(err)
	}
	if err := world.WriteQuestions(os.Stdout, w.Questions(world.Dev)[:1]); err != nil {
		log.Fatal(err)
	}
	// Output:
	// {"id":"dev-0000","question":"In what year was the society that Freya Berwick belonged to founded?","answer":"1942","type":"bridge","hops":2,"split":"dev","entities":["people/freya-berwick","organisations/berwick-institute-of-sciences"],"supporting":[{"doc":"world://people/freya-berwick","subject":"people/freya-berwick","relation":"member_of","object":"organisations/berwick-institute-of-sciences","question":"Which society was Freya Berwick a member of?","answer":"Berwick Institute of Sciences"},{"doc":"world://organisations/berwick-institute-of-sciences","subject":"organisations/berwick-institute-of-sciences","relation":"founded_year","object":"1942","question":"In what year was Berwick Institute of Sciences founded?","answer":"1942"}]}
}
