package batch

import (
	"errors"
	"fmt"
	"strings"
)

// ErrPathEscapes matches an output file pattern that would reach outside
// the task directory.
var ErrPathEscapes = errors.New("escapes the task directory")

// OutputPattern is an output filePattern split into its literal base and its wildcard part.
type OutputPattern struct {
	// Base is the pattern's directory part without wildcards, relative to
	// the task directory ("wd", "wd/out", "." for ../*).
	Base string
	// Glob is the rest, with wildcards, relative to base; empty when the
	// pattern names one file (then base is that file).
	Glob string
}

// Full is the doublestar pattern relative to the task directory.
func (p OutputPattern) Full() string {
	if p.Base == "." {
		return p.Glob
	}
	return p.Base + "/" + p.Glob
}

// hasMeta reports whether a pattern segment has doublestar syntax.
func hasMeta(seg string) bool { return strings.ContainsAny(seg, `*?[]{}\`) }

// ParseOutputPattern splits an output filePattern (relative to the working
// directory wd, which is the task directory's "wd") into its literal base
// and its wildcard part. ".." may appear only in the literal part and may
// climb to the task directory, not above it.
func ParseOutputPattern(pattern string) (OutputPattern, error) {
	switch {
	case pattern == "":
		return OutputPattern{}, errors.New("filePattern is empty")
	case strings.HasPrefix(pattern, "/"):
		return OutputPattern{}, fmt.Errorf("filePattern %q is absolute; it must be relative to the task working directory", pattern)
	case strings.ContainsRune(pattern, 0):
		return OutputPattern{}, fmt.Errorf("filePattern %q contains a NUL byte", pattern)
	}
	base := []string{"wd"}
	segs := strings.Split(pattern, "/")
	for i, seg := range segs {
		if hasMeta(seg) {
			for _, rest := range segs[i:] {
				if rest == ".." {
					return OutputPattern{}, fmt.Errorf("filePattern %q: \"..\" may not follow a wildcard", pattern)
				}
			}
			glob := strings.Join(segs[i:], "/")
			if strings.HasSuffix(glob, "/") {
				return OutputPattern{}, fmt.Errorf("filePattern %q ends with a slash", pattern)
			}
			return OutputPattern{Base: joinBase(base), Glob: glob}, nil
		}
		switch seg {
		case "", ".":
		case "..":
			if len(base) == 0 {
				return OutputPattern{}, fmt.Errorf("filePattern %q %w", pattern, ErrPathEscapes)
			}
			base = base[:len(base)-1]
		default:
			base = append(base, seg)
		}
	}
	if len(base) == 0 || strings.HasSuffix(pattern, "/") {
		return OutputPattern{}, fmt.Errorf("filePattern %q names a directory, not a file (use dir/** for its files)", pattern)
	}
	return OutputPattern{Base: joinBase(base)}, nil
}

func joinBase(segs []string) string {
	if len(segs) == 0 {
		return "."
	}
	return strings.Join(segs, "/")
}
