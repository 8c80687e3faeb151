package trainset

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/rewoo-agent/agent/tools/corpus"
	"github.com/rewoo-agent/agent/world"
)

// CompareDrills are n examples of the KnowledgeModel step that compares the
// branches' years of q, each over other years (world.Counterfactual): random years
// as often a few years apart as decades or centuries, and a random comparative. A
// small model trained on the world's questions alone learns to copy names but not to
// compare two four-digit years (the shipped model was right on half of them, a coin
// toss); drills give that one decision many examples. Only the comparing step is
// kept: the other steps' prompts hold the documents, which say the world's years. q
// not a comparison of years gives none.
//
// The step's prompt is built once, over marker years, and each drill writes its
// years and comparative into it: building it runs the plan's searches, which cost
// far more than the drill's training.
func CompareDrills(ctx context.Context, w *world.World, c *corpus.Corpus, q world.Question, n int, r *rand.Rand, opts Options) ([]Example, error) {
	const markA, markB = 1111, 2222
	base, ok := w.Counterfactual(q, markA, markB, "earlier")
	if !ok || n <= 0 {
		return nil, nil
	}
	exs, err := Examples(ctx, w, c, base, opts)
	if err != nil {
		return nil, err
	}
	var step Example
	for _, e := range exs {
		if e.Kind == "knowledge" && strings.Contains(e.Prompt, base.Question) {
			step = e
		}
	}
	blocks := func(ya, yb int) [2]string {
		return [2]string{"ENDCONTEXT\n" + strconv.Itoa(ya) + "\n", "ENDCONTEXT\n" + strconv.Itoa(yb) + "\n"}
	}
	marks := blocks(markA, markB)
	if strings.Count(step.Prompt, base.Question) != 1 || strings.Count(step.Prompt, marks[0]) != 1 || strings.Count(step.Prompt, marks[1]) != 1 {
		return nil, fmt.Errorf("%w: question %s: the comparing step's prompt does not hold the question and the years once each", ErrGoldPlan, q.ID)
	}
	out := make([]Example, 0, n)
	for range n {
		ya := 1700 + r.IntN(360)
		var d int
		switch r.IntN(3) {
		case 0:
			d = 1 + r.IntN(9)
		case 1:
			d = 10 + r.IntN(90)
		default:
			d = 100 + r.IntN(200)
		}
		if r.IntN(2) == 0 {
			d = -d
		}
		cq, _ := w.Counterfactual(q, ya, ya+d, [2]string{"earlier", "later"}[r.IntN(2)])
		years := blocks(ya, ya+d)
		prompt := strings.Replace(step.Prompt, base.Question, cq.Question, 1)
		prompt = strings.Replace(prompt, marks[0], years[0], 1)
		prompt = strings.Replace(prompt, marks[1], years[1], 1)
		out = append(out, Example{Split: q.Split, Kind: "knowledge", Question: cq.Question, Prompt: prompt, Completion: " " + cq.Answer})
	}
	return out, nil
}
