package queue

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/engine/pool"
	"github.com/rewoo-agent/agent/internal/yamlpos"
	"github.com/rewoo-agent/agent/research"
)

// Job is a research job read from its job file: its questions and how they are
// answered. Its Spec is stored with the job, so every worker answers with the
// same tools, engine and limits.
type Job struct {
	ID        string
	Questions []research.Question
	Spec      Spec
}

// Spec is the part of a job file a worker needs besides the questions.
type Spec struct {
	Tools  ToolsSpec  `yaml:"tools" json:"tools"`
	Engine EngineSpec `yaml:"engine" json:"engine"`
	Limits Limits     `yaml:"limits" json:"limits"`
}

// ToolsSpec names the job's tools and how each is cached or guarded.
type ToolsSpec struct {
	// File is a custom tools file (see tools/custom), relative to the job file.
	File string `yaml:"file" json:"file,omitempty"`
	// Settings are per tool, by name.
	Settings map[string]ToolSettings `yaml:"settings" json:"settings,omitempty"`
}

// ToolSettings is how one tool's calls are shared and guarded.
type ToolSettings struct {
	// TTL is how long a result of the tool is shared from the cache; 0 is not
	// cached.
	TTL time.Duration `yaml:"ttl" json:"ttl,omitempty"`
	// SideEffects marks a tool whose calls change the world: each call gets an
	// idempotency key and is never repeated blindly after a crash. Such a tool
	// is never cached.
	SideEffects bool `yaml:"side_effects" json:"side_effects,omitempty"`
}

// EngineSpec is the job's language model: a pool of OpenAI-compatible
// endpoints, or the in-process engine over a model folder.
type EngineSpec struct {
	Endpoints []string `yaml:"endpoints" json:"endpoints,omitempty"`
	// Model is the model name sent to the endpoints, or with no endpoints the
	// model folder (or hub reference) of the in-process engine.
	Model string `yaml:"model" json:"model,omitempty"`
}

// Limits bound a job's work.
type Limits struct {
	// Timeout is each question's time limit; the question's lease is a little
	// longer. 0 is DefaultTimeout.
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Parallel is how many questions the worker of agent research JOB.yaml
	// answers at once; 0 is 1. Workers started on their own say their own.
	Parallel int `yaml:"parallel" json:"parallel,omitempty"`
	// Lease is how long a worker holds a question before, its worker gone
	// quiet, it goes back to the queue; 0 is Timeout and 30 seconds. It is
	// at least Timeout.
	Lease time.Duration `yaml:"lease" json:"lease,omitempty"`
	// MaxAttempts is how many times a question whose worker died is taken up
	// again; 0 is DefaultMaxAttempts.
	MaxAttempts int `yaml:"max_attempts" json:"max_attempts,omitempty"`
	// Full keeps the prompt and each step's output in the records.
	Full bool `yaml:"full" json:"full,omitempty"`
}

// Defaults of Limits.
const (
	DefaultTimeout     = 10 * time.Minute
	DefaultMaxAttempts = 25
)

func (l Limits) timeout() time.Duration {
	if l.Timeout > 0 {
		return l.Timeout
	}
	return DefaultTimeout
}

func (l Limits) lease() time.Duration {
	if l.Lease > 0 {
		return max(l.Lease, l.timeout())
	}
	return l.timeout() + leaseGrace
}

func (l Limits) maxAttempts() int {
	if l.MaxAttempts > 0 {
		return l.MaxAttempts
	}
	return DefaultMaxAttempts
}

// fileJob is a job file as written.
type fileJob struct {
	ID        string        `yaml:"id"`
	Questions fileQuestions `yaml:"questions"`
	Spec      `yaml:",inline"`
}

// fileQuestions is the questions of a job file: exactly one of List, File,
// Template (with Table).
type fileQuestions struct {
	// List holds questions as strings (the id is the position) or objects {id, question}.
	List []listQuestion `yaml:"list"`
	// File is a question file as agent batch reads it.
	File string `yaml:"file"`
	// Template is a text/template over each row of Table, a CSV file with a
	// header row or a JSONL file of objects; ID, a template too, makes the
	// question's id (the row number when empty).
	Template string `yaml:"template"`
	Table    string `yaml:"table"`
	ID       string `yaml:"id"`
}

type listQuestion struct {
	ID        string
	Question  string
	line, col int
}

func (q *listQuestion) UnmarshalYAML(n *yaml.Node) error {
	q.line, q.col = n.Line, n.Column
	if n.Kind == yaml.ScalarNode {
		q.Question = n.Value
		return nil
	}
	var obj struct {
		ID       string `yaml:"id"`
		Question string `yaml:"question"`
	}
	if err := n.Decode(&obj); err != nil {
		return err
	}
	q.ID, q.Question = obj.ID, obj.Question
	return nil
}

// validID is what a job id may be: it names files and rows.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// MaxTableRows bounds a template's table.
const MaxTableRows = 1_000_000

// ReadJobFile reads the job file at path; files it names are relative to its
// folder. Every problem is a *yamlpos.Error at file:line:col, joined.
func ReadJobFile(path string) (*Job, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseJob(path, data, filepath.Dir(path))
}

// ParseJob parses a job file's data; name is the file in messages, dir the
// folder its files are relative to.
func ParseJob(name string, data []byte, dir string) (*Job, error) {
	var fj fileJob
	if err := yamlpos.Decode(name, data, &fj); err != nil {
		return nil, err
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc) // Decode parsed it already
	root := &doc
	if len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	var errs []error
	bad := func(n *yaml.Node, format string, args ...any) {
		if n == nil {
			n = root
		}
		errs = append(errs, yamlpos.NodeError(name, n, format, args...))
	}
	job := &Job{ID: fj.ID, Spec: fj.Spec}
	if job.ID == "" {
		job.ID = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
		if !validID.MatchString(job.ID) {
			bad(root, "no id, and the file's name %q is no job id: give id: (letters, digits, . _ -, at most 128)", job.ID)
		}
	} else if !validID.MatchString(job.ID) {
		bad(at(root, "id"), "id %q: want letters, digits, . _ - (at most 128), starting with a letter or digit", job.ID)
	}
	qn := at(root, "questions")
	q := fj.Questions
	n := 0
	for _, set := range []bool{len(q.List) > 0, q.File != "", q.Template != "" || q.Table != ""} {
		if set {
			n++
		}
	}
	switch {
	case qn == nil:
		bad(root, "no questions: give questions: with list:, file: or template: and table:")
	case n != 1:
		bad(qn, "questions: give exactly one of list:, file:, or template: with table:")
	case len(q.List) > 0:
		job.Questions, errs = listQuestions(name, q.List, errs)
	case q.File != "":
		f, err := os.Open(resolve(dir, q.File))
		if err != nil {
			bad(at(qn, "file"), "questions.file: %v", err)
			break
		}
		qs, err := research.ReadQuestions(f, q.File)
		f.Close()
		if err != nil {
			bad(at(qn, "file"), "questions.file: %v", err)
		}
		job.Questions = qs
	default:
		qs, err := templateQuestions(name, qn, q, dir)
		if err != nil {
			errs = append(errs, err)
		}
		job.Questions = qs
	}
	if s := job.Spec.Limits; s.Timeout < 0 || s.Lease < 0 || s.Parallel < 0 || s.MaxAttempts < 0 {
		bad(at(root, "limits"), "limits: timeout, lease, parallel and max_attempts must not be negative")
	}
	for _, e := range job.Spec.Engine.Endpoints {
		if !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
			bad(at(root, "engine", "endpoints"), "engine.endpoints: %q is no http:// or https:// URL", e)
		}
	}
	if job.Spec.Tools.File != "" {
		job.Spec.Tools.File = resolve(dir, job.Spec.Tools.File)
	}
	for tool, s := range job.Spec.Tools.Settings {
		n := at(root, "tools", "settings", tool)
		if s.TTL < 0 {
			bad(n, "tools.settings.%s.ttl: must not be negative", tool)
		}
		if s.SideEffects && s.TTL > 0 {
			bad(n, "tools.settings.%s: a tool with side effects is never cached: drop its ttl", tool)
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b error) int {
			var ea, eb *yamlpos.Error
			if !errors.As(a, &ea) || !errors.As(b, &eb) {
				return 0
			}
			if ea.Line != eb.Line {
				return ea.Line - eb.Line
			}
			return ea.Col - eb.Col
		})
		return nil, errors.Join(errs...)
	}
	return job, nil
}

func listQuestions(name string, list []listQuestion, errs []error) ([]research.Question, []error) {
	seen := map[string]int{}
	var qs []research.Question
	for i, l := range list {
		id := l.ID
		if id == "" {
			id = strconv.Itoa(i + 1)
		}
		text := strings.TrimSpace(l.Question)
		switch prev, dup := seen[id]; {
		case text == "":
			errs = append(errs, &yamlpos.Error{File: name, Line: l.line, Col: l.col, Msg: fmt.Sprintf("questions.list[%d]: an empty question", i)})
		case dup:
			errs = append(errs, &yamlpos.Error{File: name, Line: l.line, Col: l.col, Msg: fmt.Sprintf("questions.list[%d]: id %q repeats line %d", i, id, prev)})
		default:
			seen[id] = l.line
			qs = append(qs, research.Question{ID: id, Text: text, File: name, Line: l.line})
		}
	}
	return qs, errs
}

// templateQuestions renders the question (and id) template over each row of
// the table.
func templateQuestions(name string, qn *yaml.Node, q fileQuestions, dir string) ([]research.Question, error) {
	switch {
	case q.Template == "":
		return nil, yamlpos.NodeError(name, at(qn, "table"), "questions.table: give the template: of each question")
	case q.Table == "":
		return nil, yamlpos.NodeError(name, at(qn, "template"), "questions.template: give the table: it is filled from (CSV or JSONL)")
	}
	text, err := template.New("question").Option("missingkey=error").Parse(q.Template)
	if err != nil {
		return nil, yamlpos.NodeError(name, at(qn, "template"), "questions.template: %v", err)
	}
	idt := (*template.Template)(nil)
	if q.ID != "" {
		if idt, err = template.New("id").Option("missingkey=error").Parse(q.ID); err != nil {
			return nil, yamlpos.NodeError(name, at(qn, "id"), "questions.id: %v", err)
		}
	}
	tn := at(qn, "table")
	data, err := os.ReadFile(resolve(dir, q.Table))
	if err != nil {
		return nil, yamlpos.NodeError(name, tn, "questions.table: %v", err)
	}
	rows, err := readTable(q.Table, data)
	if err != nil {
		return nil, yamlpos.NodeError(name, tn, "questions.table: %v", err)
	}
	var (
		qs   []research.Question
		errs []error
		seen = map[string]int{}
	)
	fail := func(r row, format string, args ...any) {
		errs = append(errs, yamlpos.NodeError(name, tn, "questions.table: %s:%d: %s", q.Table, r.line, fmt.Sprintf(format, args...)))
	}
	for _, r := range rows {
		var b bytes.Buffer
		if err := text.Execute(&b, r.fields); err != nil {
			fail(r, "%v", err)
			continue
		}
		id := strconv.Itoa(r.line)
		if idt != nil {
			var ib bytes.Buffer
			if err := idt.Execute(&ib, r.fields); err != nil {
				fail(r, "the id: %v", err)
				continue
			}
			id = strings.TrimSpace(ib.String())
		}
		text := strings.TrimSpace(b.String())
		switch prev, dup := seen[id]; {
		case id == "":
			fail(r, "the id is empty")
		case text == "":
			fail(r, "the question is empty")
		case dup:
			fail(r, "id %q repeats line %d", id, prev)
		default:
			seen[id] = r.line
			qs = append(qs, research.Question{ID: id, Text: text, File: q.Table, Line: r.line})
		}
		if len(errs) >= 20 {
			errs = append(errs, yamlpos.NodeError(name, tn, "questions.table: and more: stopped at 20 problems"))
			break
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(qs) == 0 {
		return nil, yamlpos.NodeError(name, tn, "questions.table: %s has no rows", q.Table)
	}
	return qs, nil
}

type row struct {
	line   int
	fields map[string]any
}

// readTable reads a CSV file with a header row, or JSONL objects when its name
// ends in .jsonl or .ndjson.
func readTable(name string, data []byte) ([]row, error) {
	var rows []row
	if ext := strings.ToLower(filepath.Ext(name)); ext == ".jsonl" || ext == ".ndjson" {
		for i, l := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(l) == "" {
				continue
			}
			var obj map[string]any
			if err := json.Unmarshal([]byte(l), &obj); err != nil {
				return nil, fmt.Errorf("%s:%d: not a JSON object: %v", name, i+1, err)
			}
			if len(rows) == MaxTableRows {
				return nil, fmt.Errorf("%s: more than %d rows", name, MaxTableRows)
			}
			rows = append(rows, row{i + 1, obj})
		}
		return rows, nil
	}
	r := csv.NewReader(bytes.NewReader(data))
	header, err := r.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s is empty: want a header row", name)
	}
	if err != nil {
		return nil, err
	}
	for i, h := range header {
		if h = strings.TrimSpace(h); h == "" || slices.Contains(header[:i], h) {
			return nil, fmt.Errorf("%s:1: column %d: want a distinct, non-empty name", name, i+1)
		}
		header[i] = strings.TrimSpace(h)
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err // csv.ParseError says file line and column
		}
		line, _ := r.FieldPos(0)
		obj := make(map[string]any, len(rec))
		for i, v := range rec {
			obj[header[i]] = v
		}
		if len(rows) == MaxTableRows {
			return nil, fmt.Errorf("%s: more than %d rows", name, MaxTableRows)
		}
		rows = append(rows, row{line, obj})
	}
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// at is the value node at path under n (mapping keys), or nil.
func at(n *yaml.Node, path ...string) *yaml.Node {
	for _, k := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// Digest is a hash of the job's questions and spec: a job submitted again under
// its id must have the same one.
func (j *Job) Digest() string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	enc.Encode(j.Spec)
	for _, q := range j.Questions {
		enc.Encode([2]string{q.ID, q.Text})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Pool is the job's endpoints as one engine: a pool of OpenAI-compatible
// clients, each probed at /v1/models after a failure. apiKey, when not empty,
// is sent to each. A spec without endpoints is ErrNoEndpoints: the in-process
// engine is the caller's to open.
func (s EngineSpec) Pool(apiKey string) (*pool.Pool, error) {
	if len(s.Endpoints) == 0 {
		return nil, ErrNoEndpoints
	}
	var members []pool.Member
	for _, e := range s.Endpoints {
		c, err := openai.New(e, openai.Options{Model: s.Model, APIKey: apiKey})
		if err != nil {
			return nil, fmt.Errorf("engine.endpoints: %w", err)
		}
		members = append(members, pool.Member{Name: e, LLM: c, Health: pool.HTTPHealth(e, nil)})
	}
	return pool.New(members...)
}

// ErrNoEndpoints is returned by EngineSpec.Pool for a job of the in-process engine.
var ErrNoEndpoints = errors.New("the job names no engine endpoints")
