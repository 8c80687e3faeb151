package flags_test

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/configs/flags"
)

func Example() {
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	s := flags.New(fs)
	s.Define("seed", "sampling.seed", "random seed of the sampler")
	s.Define("timeout", "planner.timeout", "time limit of a question")
	if err := fs.Parse([]string{"--seed", "7"}); err != nil {
		panic(err)
	}
	cfg, err := configs.Load(configs.Options{File: s.File(), Flags: s.Settings()})
	if err != nil {
		panic(err)
	}
	fmt.Println(fs.Lookup("timeout").Usage)
	fmt.Println(cfg.Sampling.Seed, cfg.Source("sampling.seed"))
	// Output:
	// time limit of a question (config planner.timeout)
	// 7 flag --seed
}
