package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File is one configuration file's name and content.
type File struct {
	Name string `json:"name"`
	Data []byte `json:"content"`
	// Layer is the position of the -f path the file came from: an object
	// of a later layer replaces the same object of an earlier one, as in
	// Load; within one layer, an object defined twice is an error.
	Layer int `json:"layer,omitempty"`
}

// Load reads every path (a file, a directory searched recursively for
// .yaml, .yml and .json files, or "-" for stdin) and parses what it finds.
// As with `kubectl apply -f a -f b`, an object in a later path replaces the
// same object from an earlier one; within one path, an object defined twice
// is an error.
func Load(paths []string, stdin io.Reader) (*Config, Diagnostics) {
	return LoadWith(paths, stdin, Options{})
}

// LoadWith is Load with options.
func LoadWith(paths []string, stdin io.Reader, opt Options) (*Config, Diagnostics) {
	c := &Config{}
	var diags Diagnostics
	for _, p := range paths {
		files, d := ReadFiles(p, stdin)
		diags = append(diags, d...)
		layer := &Config{}
		for _, f := range files {
			diags = append(diags, layer.ParseWith(f.Name, f.Data, opt)...)
		}
		c.Replace(layer)
	}
	return c, diags
}

// ReadFiles reads one path as Load does, without parsing. It and Load are
// the only functions in this package that do I/O.
func ReadFiles(p string, stdin io.Reader) ([]File, Diagnostics) {
	if p == "-" {
		data, err := readAtMost(stdin)
		if err != nil {
			return nil, Diagnostics{ioDiag("<stdin>", err)}
		}
		return []File{{Name: "<stdin>", Data: data}}, nil
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, Diagnostics{ioDiag(p, err)}
	}
	if !info.IsDir() {
		return readFile(p)
	}
	var files []File
	var diags Diagnostics
	err = filepath.WalkDir(p, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			diags = append(diags, ioDiag(path, err))
			return nil
		}
		if !e.IsDir() && isConfigFile(path) {
			f, d := readFile(path)
			files, diags = append(files, f...), append(diags, d...)
		}
		return nil
	})
	if err != nil {
		diags = append(diags, ioDiag(p, err))
	}
	if len(files) == 0 && len(diags) == 0 {
		diags = append(diags, Diagnostic{Level: Warning, Code: CodeSyntax, File: p,
			Message: "directory holds no .yaml, .yml or .json file", Hint: "check the path"})
	}
	return files, diags
}

func readFile(path string) ([]File, Diagnostics) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Diagnostics{ioDiag(path, err)}
	}
	defer f.Close()
	data, err := readAtMost(f)
	if err != nil {
		return nil, Diagnostics{ioDiag(path, err)}
	}
	return []File{{Name: path, Data: data}}, nil
}

// MaxFileBytes bounds one configuration file (or standard input, or an
// applied set of files): far above any real configuration, well below
// what would exhaust a machine (a -f /dev/zero).
const MaxFileBytes = 16 << 20

// ErrTooLarge is the error of a file over MaxFileBytes.
var ErrTooLarge = fmt.Errorf("larger than %d MiB, the most lanemesh reads from one file", MaxFileBytes>>20)

// readAtMost reads r to its end, or fails with ErrTooLarge past
// MaxFileBytes.
func readAtMost(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err == nil && len(data) > MaxFileBytes {
		return nil, ErrTooLarge
	}
	return data, err
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
	hint := "check that the path exists and is readable"
	switch {
	case errors.Is(err, ErrTooLarge):
		hint = "split it into several files, or pass a directory"
	case errors.Is(err, context.Canceled):
		hint = "the command was interrupted while reading; nothing was done"
	}
	return Diagnostic{Level: Error, Code: IOCode, File: path, Message: "cannot read: " + err.Error(), Hint: hint}
}
