package blob

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of blob names (Azure's).
const (
	MaxNameLen     = 1024 // characters in a blob name
	maxNameSegment = 254  // path segments in a blob name
)

// CheckName reports whether name is a usable blob name: 1 to MaxNameLen
// characters of valid UTF-8, slash-separated segments that are neither
// empty, "." nor "..", no backslash or control character, and no trailing
// dot (Azure drops it). A leading or trailing slash is an empty segment. The error matches ErrInvalidName.
func CheckName(name string) error {
	if err := checkNameChars(name); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("%w: empty blob name", ErrInvalidName)
	}
	if strings.HasSuffix(name, ".") {
		return fmt.Errorf("%w: blob name %q ends with a dot (Azure drops trailing dots)", ErrInvalidName, name)
	}
	segs := strings.Split(name, "/")
	if len(segs) > maxNameSegment {
		return fmt.Errorf("%w: blob name has more than %d path segments", ErrInvalidName, maxNameSegment)
	}
	for _, s := range segs {
		switch s {
		case "":
			return fmt.Errorf("%w: blob name %q has an empty path segment (leading, trailing or double slash)", ErrInvalidName, name)
		case ".", "..":
			return fmt.Errorf("%w: blob name %q has a %q path segment", ErrInvalidName, name, s)
		}
	}
	return nil
}

// checkPrefix checks a List prefix: the characters of a name, but any
// prefix of a valid name is allowed, so "dir/" and "" are fine.
func checkPrefix(prefix string) error {
	if err := checkNameChars(prefix); err != nil {
		return err
	}
	for _, s := range strings.Split(prefix, "/") {
		if s == "." || s == ".." {
			return fmt.Errorf("%w: prefix %q has a %q path segment", ErrInvalidName, prefix, s)
		}
	}
	if strings.HasPrefix(prefix, "/") || strings.Contains(prefix, "//") {
		return fmt.Errorf("%w: prefix %q has an empty path segment", ErrInvalidName, prefix)
	}
	return nil
}

func checkNameChars(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: blob name %q is not valid UTF-8", ErrInvalidName, name)
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLen {
		return fmt.Errorf("%w: blob name has %d characters, more than %d", ErrInvalidName, n, MaxNameLen)
	}
	for _, r := range name {
		if r == '\\' {
			return fmt.Errorf("%w: blob name %q contains a backslash", ErrInvalidName, name)
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: blob name %q contains control character %U", ErrInvalidName, name, r)
		}
	}
	return nil
}

// CheckContainerName reports whether name follows Azure's container naming
// rules: 3 to 63 lower-case letters, digits and dashes, starting and ending
// with a letter or digit, with no two dashes in a row. Such names are also
// valid object store bucket name parts. The error matches ErrInvalidName.
func CheckContainerName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("%w: container name %q must have 3 to 63 characters", ErrInvalidName, name)
	}
	for i := range len(name) {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(name)-1 && name[i-1] != '-':
		default:
			return fmt.Errorf("%w: container name %q: only lower-case letters, digits and single inner dashes are allowed",
				ErrInvalidName, name)
		}
	}
	return nil
}

// BucketName is the object store bucket that holds container of natch
// account: "natch-blob_<account>_<container>". Account characters other
// than lower-case letters, digits and dashes are written as "X" and two
// upper-case hex digits per byte, so distinct (account, container) pairs
// never share a bucket.
func BucketName(account, container string) (string, error) {
	if account == "" {
		return "", errors.New("bucket name: empty account")
	}
	if err := CheckContainerName(container); err != nil {
		return "", fmt.Errorf("bucket name: %w", err)
	}
	var b strings.Builder
	b.WriteString("natch-blob_")
	for i := range len(account) {
		c := account[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "X%02X", c)
		}
	}
	b.WriteByte('_')
	b.WriteString(container)
	return b.String(), nil
}

// urlRe matches the start of a URL with an authority ("scheme://").
var urlRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://`)

// Redact returns ref with the secrets it may hold replaced by "REDACTED":
// the sig parameter of a SAS URL, and the AccountKey and
// SharedAccessSignature of a connection string. Use it to log references.
func Redact(ref string) string {
	if urlRe.MatchString(ref) {
		u, err := url.Parse(ref)
		if err != nil {
			return "<unparsable URL>"
		}
		if u.User != nil {
			u.User = url.User("REDACTED")
		}
		q := u.Query()
		for k := range q {
			if strings.EqualFold(k, "sig") {
				q[k] = []string{"REDACTED"}
			}
		}
		if len(q) > 0 {
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	if !strings.Contains(ref, "=") {
		return ref
	}
	parts := strings.Split(ref, ";")
	for i, p := range parts {
		k, _, ok := strings.Cut(p, "=")
		if ok && (strings.EqualFold(k, "AccountKey") || strings.EqualFold(k, "SharedAccessSignature")) {
			parts[i] = k + "=REDACTED"
		}
	}
	return strings.Join(parts, ";")
}
