package stage

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// ErrEscapes matches a path or pattern that would leave its directory.
var ErrEscapes = errors.New("escapes the task directory")

// cleanRel cleans a relative, slash-separated path and refuses absolute
// paths, backslashes, NUL bytes and paths that climb above their start.
// It returns "." for the start itself.
func cleanRel(p string) (string, error) {
	switch {
	case strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("%q is an absolute path; it must be relative to the task working directory", p)
	case strings.ContainsRune(p, '\\'):
		return "", fmt.Errorf("%q contains a backslash; use / to separate directories", p)
	case strings.ContainsRune(p, 0):
		return "", fmt.Errorf("%q contains a NUL byte", p)
	}
	c := path.Clean("/" + p)[1:] // rooted: ".." cannot climb above "/"
	if c == "" {
		c = "."
	}
	// Clean of the rooted form hides climbing; count it on the raw form.
	depth := 0
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return "", fmt.Errorf("%q %w", p, ErrEscapes)
			}
		default:
			depth++
		}
	}
	return c, nil
}

// resourceDest is where a resource file lands, relative to the working
// directory: filePath for httpUrl; filePath/<blob name> for a blob of a
// container source (the full blob name, as Azure keeps it).
func resourceDest(filePath, blobName string) (string, error) {
	fp := "."
	if filePath != "" {
		var err error
		if fp, err = cleanRel(filePath); err != nil {
			return "", fmt.Errorf("filePath %w", err)
		}
	}
	if blobName == "" {
		if fp == "." {
			return "", fmt.Errorf("filePath %q names the working directory, not a file", filePath)
		}
		return fp, nil
	}
	name, err := cleanRel(blobName)
	if err != nil || name == "." {
		return "", fmt.Errorf("blob name %q cannot be a file path: %w", blobName, cmpErr(err, ErrEscapes))
	}
	return path.Join(fp, name), nil
}

func cmpErr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// parseMode parses a resource file's fileMode ("0755"); empty is
// DefaultFileMode.
func parseMode(s string) (uint32, error) {
	if s == "" {
		return uint32(DefaultFileMode), nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, fmt.Errorf("fileMode %q is not an octal file mode such as 0755", s)
	}
	return uint32(m), nil
}

// outputPattern is a parsed output filePattern.
type outputPattern struct {
	// base is the pattern's directory part without wildcards, relative to
	// the task directory ("wd", "wd/out", "." for ../*).
	base string
	// glob is the rest, with wildcards, relative to base; empty when the
	// pattern names one file (then base is that file).
	glob string
}

// full is the doublestar pattern relative to the task directory.
func (p outputPattern) full() string {
	if p.base == "." {
		return p.glob
	}
	return p.base + "/" + p.glob
}

// hasMeta reports whether a pattern segment has doublestar syntax.
func hasMeta(seg string) bool { return strings.ContainsAny(seg, `*?[]{}\`) }

// parsePattern splits an output filePattern (relative to the working
// directory wd, which is the task directory's "wd") into its literal base
// and its wildcard part. ".." may appear only in the literal part and may
// climb to the task directory, not above it.
func parsePattern(pattern string) (outputPattern, error) {
	switch {
	case pattern == "":
		return outputPattern{}, errors.New("filePattern is empty")
	case strings.HasPrefix(pattern, "/"):
		return outputPattern{}, fmt.Errorf("filePattern %q is absolute; it must be relative to the task working directory", pattern)
	case strings.ContainsRune(pattern, 0):
		return outputPattern{}, fmt.Errorf("filePattern %q contains a NUL byte", pattern)
	}
	base := []string{"wd"}
	segs := strings.Split(pattern, "/")
	for i, seg := range segs {
		if hasMeta(seg) {
			for _, rest := range segs[i:] {
				if rest == ".." {
					return outputPattern{}, fmt.Errorf("filePattern %q: \"..\" may not follow a wildcard", pattern)
				}
			}
			glob := strings.Join(segs[i:], "/")
			if strings.HasSuffix(glob, "/") {
				return outputPattern{}, fmt.Errorf("filePattern %q ends with a slash", pattern)
			}
			return outputPattern{base: joinBase(base), glob: glob}, nil
		}
		switch seg {
		case "", ".":
		case "..":
			if len(base) == 0 {
				return outputPattern{}, fmt.Errorf("filePattern %q %w", pattern, ErrEscapes)
			}
			base = base[:len(base)-1]
		default:
			base = append(base, seg)
		}
	}
	if len(base) == 0 || strings.HasSuffix(pattern, "/") {
		return outputPattern{}, fmt.Errorf("filePattern %q names a directory, not a file (use dir/** for its files)", pattern)
	}
	return outputPattern{base: joinBase(base)}, nil
}

func joinBase(segs []string) string {
	if len(segs) == 0 {
		return "."
	}
	return strings.Join(segs, "/")
}

// outputBlobName maps a matched file (relative to the task directory) to
// its blob name: with no wildcard, destination path is the blob name (the
// file's name when empty); with wildcards, path is a virtual directory
// prefixed to the file's path relative to the pattern's base.
func outputBlobName(p outputPattern, match, destPath string) string {
	destPath = strings.Trim(destPath, "/")
	if p.glob == "" {
		if destPath != "" {
			return destPath
		}
		return path.Base(match)
	}
	rel := match
	if p.base != "." {
		rel = strings.TrimPrefix(match, p.base+"/")
	}
	if destPath == "" {
		return rel
	}
	return destPath + "/" + rel
}
