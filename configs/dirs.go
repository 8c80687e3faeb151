package configs

import (
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// configHome is $XDG_CONFIG_HOME, else ~/.config (the XDG base directory rule).
func configHome(env map[string]string) string {
	return xdgDir(env, "XDG_CONFIG_HOME", ".config")
}

// cacheHome is $XDG_CACHE_HOME, else ~/.cache.
func cacheHome(env map[string]string) string {
	return xdgDir(env, "XDG_CACHE_HOME", ".cache")
}

func xdgDir(env map[string]string, name, fallback string) string {
	// The specification ignores relative paths.
	if d := env[name]; filepath.IsAbs(d) {
		return d
	}
	if home := env["HOME"]; home != "" {
		return filepath.Join(home, fallback)
	}
	return ""
}

// keyLines maps the dotted key of every scalar in the YAML document to its line.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return lines
	}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := joinPath(prefix, k.Value)
			if v.Kind == yaml.MappingNode {
				walk(v, key)
				continue
			}
			lines[key] = k.Line
		}
	}
	walk(doc.Content[0], "")
	return lines
}

// joinPath joins a dotted key path and a key.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
