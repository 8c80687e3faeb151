// Package planparser reads reWOO plans as models write them: a participle grammar
// for Plan:, ":evidenceN: = Tool[input]" (or "#EN = ...") and Answer: lines, an AST
// with positions, the dependency DAG between steps, validation diagnostics reported
// as "line:col: message", canonical printing, JSON and Graphviz export, and a
// streaming reader that hands out each step as soon as its line is complete.
package planparser
