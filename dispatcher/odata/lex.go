package odata

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// tokKind is the kind of a $filter token.
type tokKind int

const (
	tEOF    tokKind = iota // end of input
	tLParen                // (
	tRParen                // )
	tComma                 // ,
	tString                // 'text'
	tNumber                // 12, -3.5, 1e3
	tTime                  // datetime'…' or a bare timestamp
	tIdent                 // keyword, function name or property path
)

// token is a lexed $filter token.
type token struct {
	kind tokKind
	pos  int       // byte offset in the source
	text string    // source text
	str  string    // tString: the unescaped value
	num  float64   // tNumber: the value
	tm   time.Time // tTime: the value
}

// describe renders t for error messages.
func (t token) describe() string {
	if t.kind == tEOF {
		return "end of filter"
	}
	return strconv.Quote(t.text)
}

// lex splits src into tokens, ending with a tEOF token.
func lex(src string) ([]token, *syntaxError) {
	var toks []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(' || c == ')' || c == ',':
			kind := tComma
			switch c {
			case '(':
				kind = tLParen
			case ')':
				kind = tRParen
			}
			toks = append(toks, token{kind: kind, pos: i, text: src[i : i+1]})
			i++
		case c == '\'':
			s, end, err := lexString(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tString, pos: i, text: src[i:end], str: s})
			i = end
		case isDigit(c) && isDateAt(src, i):
			end := i
			for end < len(src) && strings.IndexByte("0123456789:.+-TtZz", src[end]) >= 0 {
				end++
			}
			tm, ok := parseTime(src[i:end])
			if !ok {
				return nil, &syntaxError{i, fmt.Sprintf("invalid timestamp %q", src[i:end])}
			}
			toks = append(toks, token{kind: tTime, pos: i, text: src[i:end], tm: tm})
			i = end
		case isDigit(c) || (c == '-' && i+1 < len(src) && isDigit(src[i+1])):
			tok, err := lexNumber(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, tok)
			i += len(tok.text)
		case isIdentStart(c):
			tok, err := lexIdent(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, tok)
			i += len(tok.text)
		default:
			r, _ := utf8.DecodeRuneInString(src[i:])
			msg := fmt.Sprintf("unexpected character %q", r)
			if c == '"' {
				msg += "; strings are enclosed in single quotes"
			}
			return nil, &syntaxError{i, msg}
		}
	}
	return append(toks, token{kind: tEOF, pos: len(src)}), nil
}

// lexString reads the 'quoted' string starting at src[start], where a doubled
// quote is an escaped quote, and returns its value and the offset just past it.
func lexString(src string, start int) (string, int, *syntaxError) {
	var b strings.Builder
	for i := start + 1; i < len(src); i++ {
		if src[i] != '\'' {
			b.WriteByte(src[i])
			continue
		}
		if i+1 < len(src) && src[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		return b.String(), i + 1, nil
	}
	return "", 0, &syntaxError{start, "unterminated string literal"}
}

// lexNumber reads an integer or decimal literal, with an optional sign and
// exponent, starting at src[start].
func lexNumber(src string, start int) (token, *syntaxError) {
	i := start
	if src[i] == '-' {
		i++
	}
	i = skipDigits(src, i)
	if i < len(src) && src[i] == '.' {
		if i+1 >= len(src) || !isDigit(src[i+1]) {
			return token{}, &syntaxError{start, fmt.Sprintf("invalid number %q", src[start:i+1])}
		}
		i = skipDigits(src, i+1)
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		j := i + 1
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		if j < len(src) && isDigit(src[j]) {
			i = skipDigits(src, j)
		}
	}
	if i < len(src) && (isIdentPart(src[i]) || src[i] == '.') {
		end := i
		for end < len(src) && (isIdentPart(src[end]) || src[end] == '.') {
			end++
		}
		return token{}, &syntaxError{start, fmt.Sprintf("invalid number %q", src[start:end])}
	}
	v, err := strconv.ParseFloat(src[start:i], 64)
	if err != nil {
		return token{}, &syntaxError{start, fmt.Sprintf("number %q is out of range", src[start:i])}
	}
	return token{kind: tNumber, pos: start, text: src[start:i], num: v}, nil
}

// lexIdent reads a keyword, function name or property path (segments joined
// by '/') starting at src[start]. datetime'…' and datetimeoffset'…' become
// tTime tokens.
func lexIdent(src string, start int) (token, *syntaxError) {
	i := skipIdent(src, start)
	word := src[start:i]
	if i < len(src) && src[i] == '\'' && (strings.EqualFold(word, "datetime") || strings.EqualFold(word, "datetimeoffset")) {
		s, end, err := lexString(src, i)
		if err != nil {
			return token{}, err
		}
		tm, ok := parseTime(s)
		if !ok {
			return token{}, &syntaxError{start, fmt.Sprintf("invalid datetime literal %q", src[start:end])}
		}
		return token{kind: tTime, pos: start, text: src[start:end], tm: tm}, nil
	}
	for i < len(src) && src[i] == '/' {
		if i+1 >= len(src) || !isIdentStart(src[i+1]) {
			return token{}, &syntaxError{start, fmt.Sprintf("invalid property path %q", src[start:i+1])}
		}
		i = skipIdent(src, i+1)
	}
	return token{kind: tIdent, pos: start, text: src[start:i]}, nil
}

// parseTime parses a timestamp literal: RFC 3339, or a date and time without
// a zone (UTC), or a bare date (midnight UTC).
func parseTime(s string) (time.Time, bool) {
	for _, layout := range [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// isDateAt reports whether src[i:] starts with a yyyy-mm-dd date.
func isDateAt(src string, i int) bool {
	if len(src)-i < 10 {
		return false
	}
	for k := range 10 {
		c := src[i+k]
		if (k == 4 || k == 7) != (c == '-') || (k != 4 && k != 7 && !isDigit(c)) {
			return false
		}
	}
	return true
}

func skipDigits(src string, i int) int {
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	return i
}

func skipIdent(src string, i int) int {
	for i < len(src) && isIdentPart(src[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }
