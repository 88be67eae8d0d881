package config

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Load reads every path (a file, a directory searched recursively for
// .yaml, .yml and .json files, or "-" for stdin) and parses what it finds.
// As with `kubectl apply -f a -f b`, an object in a later path replaces the
// same object from an earlier one; within one path, an object defined twice
// is an error. Load is the only function in this package that does I/O.
func Load(paths []string, stdin io.Reader) (*Config, Diagnostics) {
	c := &Config{}
	var diags Diagnostics
	for _, p := range paths {
		layer := &Config{}
		diags = append(diags, layer.loadPath(p, stdin)...)
		c.Replace(layer)
	}
	return c, diags
}

func (c *Config) loadPath(p string, stdin io.Reader) Diagnostics {
	if p == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return Diagnostics{ioDiag("<stdin>", err)}
		}
		return c.Parse("<stdin>", data)
	}
	info, err := os.Stat(p)
	if err != nil {
		return Diagnostics{ioDiag(p, err)}
	}
	if !info.IsDir() {
		return c.parseFile(p)
	}
	var diags Diagnostics
	found := false
	err = filepath.WalkDir(p, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			diags = append(diags, ioDiag(path, err))
			return nil
		}
		if !e.IsDir() && isConfigFile(path) {
			found = true
			diags = append(diags, c.parseFile(path)...)
		}
		return nil
	})
	if err != nil {
		diags = append(diags, ioDiag(p, err))
	}
	if !found && len(diags) == 0 {
		diags = append(diags, Diagnostic{Level: Warning, Code: CodeSyntax, File: p,
			Message: "directory holds no .yaml, .yml or .json file", Hint: "check the path"})
	}
	return diags
}

func (c *Config) parseFile(path string) Diagnostics {
	data, err := os.ReadFile(path)
	if err != nil {
		return Diagnostics{ioDiag(path, err)}
	}
	return c.Parse(path, data)
}

func isConfigFile(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// IOCode marks diagnostics that are about reading, not about content, so the
// CLI can exit 2 for them.
const IOCode = "LM0000"

func ioDiag(path string, err error) Diagnostic {
	return Diagnostic{Level: Error, Code: IOCode, File: path, Message: "cannot read: " + err.Error(),
		Hint: "check that the path exists and is readable"}
}
