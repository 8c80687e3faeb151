// Package world generates an offline world: a consistent synthetic knowledge base of
// people, places, works and organisations, rendered as encyclopedia-style documents,
// and multi-hop questions over it with gold answers.
//
// Generate(seed, size) is deterministic: the same seed and size give the same
// entities, documents and questions, byte for byte, on every platform (the package
// uses its own splitmix64 generator, not math/rand, whose streams may change).
//
// # Entities and facts
//
// Countries have cities (located_in) and a capital; people are born in a city in a
// year and may die; organisations (presses, studios, societies) are founded by a
// person in a year and are headquartered in a city; novels are written by a person
// and published by a press, films directed by a person and produced by a studio.
// Every relation is a Fact. The years obey the obvious rules (nobody founds, writes,
// directs or joins anything before the age of 18 or after death; a work is published
// by an organisation that already exists), and tests check them.
//
// # Documents
//
// One Markdown document per entity, identified by a URL such as
// world://people/ada-smith: the entity's facts in prose (in varied phrasings) and a few
// distractor sentences that name other entities or other years without stating a
// fact about them. A document never states a fact a chain question could use as a
// shortcut (a person's document names the city of birth, not the country).
//
// # Questions
//
// Each Question has a Type (bridge, chain, comparison, bridge-comparison), its Hops
// (the number of facts, each read from one document, that answer it: 2 to 4) and its
// Supporting facts in the order a solver follows them, each with the document that
// states it and the sub-question it answers: the decomposition a reWOO plan makes.
//
// # Splits
//
// The world is three disjoint components, one per Split: train, dev and test have
// their own countries, cities, people, organisations and works, and no fact or
// distractor sentence crosses from one to another. So a test question's entities, the
// bridge entities it passes through and its answer included, never appear in a
// training question or in a training document. All documents form one corpus, as an
// agent at evaluation time would search it: the other splits are distractors.
package world
