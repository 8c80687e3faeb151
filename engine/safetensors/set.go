package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// ErrMissing is wrapped when a tensor is not in a file or checkpoint.
var ErrMissing = errors.New("missing tensor")

// Set is a checkpoint stored in one file or sharded over several.
type Set struct {
	Files  []*File
	byName map[string]*File
}

// OpenFiles opens a checkpoint made of the given files; a tensor name may appear in
// only one of them.
func OpenFiles(paths ...string) (*Set, error) {
	s := &Set{byName: map[string]*File{}}
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Files = append(s.Files, f)
		for name := range f.Tensors {
			if other, dup := s.byName[name]; dup {
				s.Close()
				return nil, fmt.Errorf("%w: tensor %q is in both %s and %s", ErrFormat, name, other.Path, p)
			}
			s.byName[name] = f
		}
	}
	return s, nil
}

// index is model.safetensors.index.json.
type index struct {
	WeightMap map[string]string `json:"weight_map"`
}

// ParseIndex parses a sharded checkpoint's index: tensor name to shard file name.
// It never panics, whatever the input.
func ParseIndex(data []byte) (map[string]string, error) {
	var ix index
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("%w: index: %v", ErrFormat, err)
	}
	if len(ix.WeightMap) == 0 {
		return nil, fmt.Errorf("%w: index has no weight_map", ErrFormat)
	}
	for name, file := range ix.WeightMap {
		if file == "" || filepath.Base(file) != file || file == "." || file == ".." {
			return nil, fmt.Errorf("%w: index: tensor %q maps to %q, not a file name in the checkpoint's folder", ErrFormat, name, file)
		}
	}
	return ix.WeightMap, nil
}

// OpenIndex opens a sharded checkpoint through its index file; the shards are in the
// index's folder. Every tensor the index names must be in the shard it names.
func OpenIndex(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	wm, err := ParseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	var shards []string
	seen := map[string]bool{}
	for _, file := range wm {
		if !seen[file] {
			seen[file] = true
			shards = append(shards, file)
		}
	}
	sort.Strings(shards)
	s := &Set{byName: make(map[string]*File, len(wm))}
	files := map[string]*File{}
	for _, name := range shards {
		f, err := Open(filepath.Join(dir, name))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("shard of %s: %w", path, err)
		}
		s.Files = append(s.Files, f)
		files[name] = f
	}
	for name, file := range wm {
		f := files[file]
		if _, ok := f.Tensors[name]; !ok {
			s.Close()
			return nil, fmt.Errorf("%s: %w: %q, which %s says is there", f.Path, ErrMissing, name, path)
		}
		s.byName[name] = f
	}
	return s, nil
}

// Tensor returns the named tensor from whichever file holds it.
func (s *Set) Tensor(name string) (Tensor, error) {
	f, ok := s.byName[name]
	if !ok {
		return Tensor{}, fmt.Errorf("%w: %q (in none of %s)", ErrMissing, name, s.fileNames())
	}
	return f.Tensor(name)
}

// Names returns every tensor name, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *Set) fileNames() string {
	if len(s.Files) == 1 {
		return s.Files[0].Path
	}
	return fmt.Sprintf("%d files in %s", len(s.Files), filepath.Dir(s.Files[0].Path))
}

// Close unmaps every file.
func (s *Set) Close() error {
	var errs []error
	for _, f := range s.Files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
