package stage

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/natch-io/natch/shared/batch"
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

// outputPattern is a parsed output filePattern (batch.ParseOutputPattern).
type outputPattern = batch.OutputPattern

// parsePattern parses an output filePattern; an escape matches ErrEscapes.
func parsePattern(pattern string) (outputPattern, error) {
	p, err := batch.ParseOutputPattern(pattern)
	if errors.Is(err, batch.ErrPathEscapes) {
		err = fmt.Errorf("%w: %w", err, ErrEscapes)
	}
	return p, err
}

// outputBlobName maps a matched file (relative to the task directory) to
// its blob name: with no wildcard, destination path is the blob name (the
// file's name when empty); with wildcards, path is a virtual directory
// prefixed to the file's path relative to the pattern's base.
func outputBlobName(p outputPattern, match, destPath string) string {
	destPath = strings.Trim(destPath, "/")
	if p.Glob == "" {
		if destPath != "" {
			return destPath
		}
		return path.Base(match)
	}
	rel := match
	if p.Base != "." {
		rel = strings.TrimPrefix(match, p.Base+"/")
	}
	if destPath == "" {
		return rel
	}
	return destPath + "/" + rel
}
