// Package eval measures answer quality: it runs each question of a set through
// the whole reWOO loop (planner, tools over a local corpus, the configured
// engine) and scores the answers with SQuAD's exact match and F1, reporting the
// share of valid plans, engine calls, tokens, and wall time against the plan's
// critical path, per question and in total.
//
// Sets are the offline world's (Offline: the test split of the world the shipped
// model was trained on, generated from its seed, every document of the world its
// corpus) or files in the published formats of HotpotQA (distractor),
// 2WikiMultihopQA and MuSiQue, whose paragraphs are served as the corpus.
package eval
