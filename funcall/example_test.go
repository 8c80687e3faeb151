package funcall_test

import (
	"fmt"

	"github.com/rewoo-agent/agent/funcall"
)

func ExampleSet_Parse() {
	set, err := funcall.NewSet(funcall.Function{
		Name:        "weather",
		Description: "The current weather of a city.",
		Params:      []funcall.Param{{Name: "city", Description: "The city.", Required: true}, {Name: "days", Type: funcall.Integer}},
	})
	if err != nil {
		panic(err)
	}
	call, err := set.Parse(`{"function": "weather", "params": {"city": "Paris", "days": 2}}`)
	fmt.Println(call, err)
	_, err = set.Parse("function: wether\nparams:\n  city: Paris\n")
	fmt.Println(err)
	_, err = set.Parse(`{"function": "weather", "params": {"days": "two"}}`)
	fmt.Println(err)
	// Output:
	// {"function":"weather","params":{"city":"Paris","days":2}} <nil>
	// unknown function "wether" (did you mean "weather"?); the functions are weather
	// weather: param "days": is a string ("two"), want an integer; weather: missing required param "city" (string)
}

func ExampleSet_Message() {
	set, err := funcall.NewSet(funcall.Function{
		Name:        "weather",
		Description: "The current weather of a city.",
		Params:      []funcall.Param{{Name: "city", Description: "The city.", Required: true}},
	})
	if err != nil {
		panic(err)
	}
	m, err := set.Message("What is the weather in Paris?", funcall.JSON)
	if err != nil {
		panic(err)
	}
	fmt.Println(m)
	// Output:
	// As an AI assistant, please select the most suitable function and parameters from the list of available functions below, based on the user's input. Provide your response in JSON format.
	//
	// Input: What is the weather in Paris?
	//
	// Available functions:
	// weather:
	//   description: The current weather of a city.
	//   params:
	//     city: (string, required) The city.
}

func ExampleAutomaton() {
	set, err := funcall.NewSet(funcall.Function{Name: "now", Description: "The time."},
		funcall.Function{Name: "weather", Params: []funcall.Param{{Name: "city", Required: true}}})
	if err != nil {
		panic(err)
	}
	a := funcall.NewAutomaton(set, funcall.DefaultLimits)
	for _, text := range []string{
		`{"function": "weather", "params": {"city": "Paris"}}`,
		`{"function": "weather", "params": {}}`,
		`{"function": "now", "params": {}}`,
		`{"function": "now", "params": {"city": "Paris"}}`,
	} {
		fmt.Println(a.Accepts(text), text)
	}
	// Output:
	// true {"function": "weather", "params": {"city": "Paris"}}
	// false {"function": "weather", "params": {}}
	// true {"function": "now", "params": {}}
	// false {"function": "now", "params": {"city": "Paris"}}
}
