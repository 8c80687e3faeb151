// Package corpus is local search over a folder of documents: a full-text index of
// the Markdown, text and HTML files in it, and two tools over the index, a search
// whose results are shaped as the web search's (numbered title, URL and snippet;
// the URLs are the sources) and a reader that returns documents by URL, shaped as
// TextScraper's output. Point it at the offline world's documents (package world)
// or at your own notes.
//
// # Documents and their URLs
//
// Files ending in .md, .markdown, .txt, .text, .html or .htm are documents; the
// rest, and every file or folder whose name starts with a dot, are ignored. A
// Markdown or text file may begin with a YAML front matter block whose url (or id)
// names the document, as the offline world's do (world://people/ada-smith), and whose
// title titles it; otherwise a document's URL is the file's file:// URL, and its title
// the first heading, an HTML file's <title>, or the file name. The reader finds a
// document by its URL, by its path relative to the folder, or by its exact title.
//
// # Indexing
//
// The index (bleve, BM25 over an English analyzer with stemming) lives in memory
// and is built on first use (about 0.4 s for the 2,600 documents of a 1,000-person
// world). A search or read first walks the folder, unless it did so less than
// Options.CheckEvery ago (2 s), and re-indexes the files whose size or modification
// time changed and drops the files that went away, so edits show up within seconds
// without a restart; the walk costs a stat per file. A refresh that fails or is
// cancelled changes nothing. There is no cache on disk: a new process indexes again.
//
// # Hostile folders
//
// Symbolic links are not followed (so no loops, and nothing outside the folder is
// read); files larger than Options.MaxFileBytes, binary files (a NUL byte or
// invalid UTF-8) and documents claiming a URL already taken are skipped, each with
// its reason in Skipped. More than Options.MaxFiles documents, or more than
// Options.MaxTotalBytes in all, is an error rather than a partial index. Queries are
// analysed as plain words: bleve's query syntax (+, -, field:, ^, quotes) has no
// meaning in them.
package corpus
