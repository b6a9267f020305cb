package formula

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is a token type. Operators are their own kinds.
type tokKind int

const (
	tEOF tokKind = iota
	tNum
	tStr
	tIdent
	tSemi     // ;
	tAssign   // =
	tLParen   // (
	tRParen   // )
	tComma    // ,
	tDot      // .
	tQuestion // ?
	tColon    // :
	tPlus     // +
	tMinus    // -
	tStar     // *
	tSlash    // /
	tNot      // !
	tLT       // <
	tLE       // <=
	tGT       // >
	tGE       // >=
	tEQ       // ==
	tNE       // !=
	tAnd      // &&
	tOr       // ||
)

// tokText is how each punctuation token is written, for error messages.
func (k tokKind) String() string {
	switch k {
	case tEOF:
		return "end of formula"
	case tNum:
		return "number"
	case tStr:
		return "string"
	case tIdent:
		return "identifier"
	}
	return "'" + [...]string{tSemi: ";", tAssign: "=", tLParen: "(", tRParen: ")", tComma: ",", tDot: ".",
		tQuestion: "?", tColon: ":", tPlus: "+", tMinus: "-", tStar: "*", tSlash: "/", tNot: "!",
		tLT: "<", tLE: "<=", tGT: ">", tGE: ">=", tEQ: "==", tNE: "!=", tAnd: "&&", tOr: "||"}[k] + "'"
}

// token is one lexeme: its kind, byte offset, raw text, and for numbers and
// strings the decoded value.
type token struct {
	kind tokKind
	off  int
	text string  // identifier name or raw lexeme
	num  float64 // tNum
	str  string  // tStr, unquoted
}

// lex splits src into tokens, dropping whitespace and // comments. The last
// token is always tEOF.
func lex(src string) ([]token, *Error) {
	var toks []token
	i := 0
	fail := func(off int, msg string) ([]token, *Error) {
		return nil, errAt(src, off, CodeSyntaxError, ErrSyntax, msg)
	}
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
			continue
		case c == '/' && strings.HasPrefix(src[i:], "//"):
			if j := strings.IndexByte(src[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(src)
			}
			continue
		case isDigit(c) || (c == '.' && i+1 < len(src) && isDigit(src[i+1])):
			j := scanNumber(src, i)
			f, err := strconv.ParseFloat(src[i:j], 64)
			if err != nil { // only range errors are possible here
				return fail(i, "number out of range: "+src[i:j])
			}
			toks = append(toks, token{kind: tNum, off: i, text: src[i:j], num: f})
			i = j
			continue
		case c == '$' || isLetter(c):
			j := i + 1
			for j < len(src) && (isLetter(src[j]) || isDigit(src[j])) {
				j++
			}
			if c == '$' && (j == i+1 || isDigit(src[i+1])) {
				return fail(i, "'$' must be followed by a variable name")
			}
			toks = append(toks, token{kind: tIdent, off: i, text: src[i:j]})
			i = j
			continue
		case c == '"':
			s, j, ok := scanString(src, i)
			if !ok {
				return fail(i, "unterminated string")
			}
			toks = append(toks, token{kind: tStr, off: i, text: src[i:j], str: s})
			i = j
			continue
		}
		kind, n := punct(src[i:])
		if n == 0 {
			r, _ := utf8.DecodeRuneInString(src[i:])
			return fail(i, "unexpected character "+strconv.QuoteRune(r))
		}
		toks = append(toks, token{kind: kind, off: i, text: src[i : i+n]})
		i += n
	}
	return append(toks, token{kind: tEOF, off: len(src)}), nil
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }

// scanNumber returns the end of the number starting at i:
// digits [. digits] [(e|E) [+|-] digits], or . digits [exponent].
func scanNumber(src string, i int) int {
	digits := func(j int) int {
		for j < len(src) && isDigit(src[j]) {
			j++
		}
		return j
	}
	j := digits(i)
	if j < len(src) && src[j] == '.' {
		j = digits(j + 1)
	}
	if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
		k := j + 1
		if k < len(src) && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < len(src) && isDigit(src[k]) {
			j = digits(k)
		}
	}
	return j
}

// scanString reads a double-quoted string starting at i. \" and \\ are the
// only escapes; a string may not span lines.
func scanString(src string, i int) (s string, end int, ok bool) {
	var b strings.Builder
	for j := i + 1; j < len(src); j++ {
		switch c := src[j]; {
		case c == '"':
			return b.String(), j + 1, true
		case c == '\n':
			return "", 0, false
		case c == '\\' && j+1 < len(src) && (src[j+1] == '"' || src[j+1] == '\\'):
			b.WriteByte(src[j+1])
			j++
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

// punct matches the operator or punctuation at the start of s.
func punct(s string) (tokKind, int) {
	if len(s) >= 2 {
		switch s[:2] {
		case "<=":
			return tLE, 2
		case ">=":
			return tGE, 2
		case "==":
			return tEQ, 2
		case "!=":
			return tNE, 2
		case "&&":
			return tAnd, 2
		case "||":
			return tOr, 2
		}
	}
	switch s[0] {
	case ';':
		return tSemi, 1
	case '=':
		return tAssign, 1
	case '(':
		return tLParen, 1
	case ')':
		return tRParen, 1
	case ',':
		return tComma, 1
	case '.':
		return tDot, 1
	case '?':
		return tQuestion, 1
	case ':':
		return tColon, 1
	case '+':
		return tPlus, 1
	case '-':
		return tMinus, 1
	case '*':
		return tStar, 1
	case '/':
		return tSlash, 1
	case '!':
		return tNot, 1
	case '<':
		return tLT, 1
	case '>':
		return tGT, 1
	}
	return tEOF, 0
}
