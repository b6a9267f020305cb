package odata

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxDepth bounds the nesting of parentheses and "not"s in a filter.
const maxDepth = 100

// Filter is a parsed $filter expression. The zero Filter, like a nil *Filter
// and the result of parsing an empty $filter, matches every entity.
type Filter struct {
	src  string // the $filter value as given
	root node   // nil: match everything
}

// node is a filter expression. eval returns nil (null), a string, a float64,
// a bool or a time.Time.
type node interface {
	eval(entity map[string]any) any
}

// logical is "l and r" or "l or r".
type logical struct {
	or   bool
	l, r node
}

// negation is "not x".
type negation struct{ x node }

// comparison is "l op r" for op one of eq, ne, gt, ge, lt, le.
type comparison struct {
	op   string
	l, r node
}

// property is a property path such as executionInfo/exitCode.
type property struct {
	path string
	segs []string
	pos  int // byte offset in the filter
}

// literal is a string, number, bool, timestamp or null (v == nil).
type literal struct{ v any }

// call is a string function: startswith, endswith or contains.
type call struct {
	fn   string
	args [2]node
}

// isCmpOp reports whether kw is a comparison operator.
func isCmpOp(kw string) bool {
	switch kw {
	case "eq", "ne", "gt", "ge", "lt", "le":
		return true
	}
	return false
}

// Parse parses an Azure Batch $filter expression (see the package
// documentation for the grammar). An empty or blank filter yields a Filter
// that matches everything. Invalid filters yield a 400
// InvalidQueryParameterValue *batch.Error whose Reason gives the column.
func Parse(filter string) (*Filter, error) {
	toks, serr := lex(filter)
	if serr != nil {
		return nil, invalidQuery(ParamFilter, filter, serr.pos, serr.msg)
	}
	f := &Filter{src: filter}
	if toks[0].kind == tEOF {
		return f, nil
	}
	p := &parser{src: filter, toks: toks}
	root, serr := p.parseOr()
	if serr == nil && p.peek().kind != tEOF {
		t := p.peek()
		serr = &syntaxError{t.pos, "unexpected " + t.describe() + "; expected 'and', 'or' or end of filter"}
	}
	if serr != nil {
		return nil, invalidQuery(ParamFilter, filter, serr.pos, serr.msg)
	}
	f.root = root
	return f, nil
}

// parser is a recursive-descent parser over lexed tokens.
type parser struct {
	src   string
	toks  []token // ends with tEOF
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// keyword returns t's text lower-cased if t could be a keyword, else "".
func keyword(t token) string {
	if t.kind != tIdent || strings.Contains(t.text, "/") {
		return ""
	}
	return strings.ToLower(t.text)
}

func (p *parser) parseOr() (node, *syntaxError) {
	l, err := p.parseAnd()
	for err == nil && keyword(p.peek()) == "or" {
		p.next()
		var r node
		if r, err = p.parseAnd(); err == nil {
			l = &logical{or: true, l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) parseAnd() (node, *syntaxError) {
	l, err := p.parseUnary()
	for err == nil && keyword(p.peek()) == "and" {
		p.next()
		var r node
		if r, err = p.parseUnary(); err == nil {
			l = &logical{l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) parseUnary() (node, *syntaxError) {
	t := p.peek()
	if p.depth++; p.depth > maxDepth {
		return nil, &syntaxError{t.pos, fmt.Sprintf("filter is nested more than %d levels deep", maxDepth)}
	}
	defer func() { p.depth-- }()
	switch {
	case keyword(t) == "not":
		p.next()
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &negation{x}, nil
	case t.kind == tLParen:
		p.next()
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind != tRParen {
			return nil, &syntaxError{c.pos, fmt.Sprintf("expected ')' to close the '(' at column %d, found %s",
				column(p.src, t.pos), c.describe())}
		}
		p.next()
		return x, nil
	}
	return p.parseComparison()
}

func (p *parser) parseComparison() (node, *syntaxError) {
	first := p.peek()
	l, err := p.parseOperand(true)
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if op := keyword(t); isCmpOp(op) {
		p.next()
		r, err := p.parseOperand(true)
		if err != nil {
			return nil, err
		}
		return &comparison{op: op, l: l, r: r}, nil
	}
	if isBoolOperand(l) && (t.kind == tEOF || t.kind == tRParen || keyword(t) == "and" || keyword(t) == "or") {
		return l, nil // a boolean property, function or literal on its own
	}
	return nil, &syntaxError{t.pos, fmt.Sprintf("expected a comparison operator after %s, found %s",
		first.describe(), t.describe())}
}

// isBoolOperand reports whether n may stand alone as a condition.
func isBoolOperand(n node) bool {
	switch x := n.(type) {
	case *property, *call:
		return true
	case *literal:
		_, ok := x.v.(bool)
		return ok
	}
	return false
}

// parseOperand parses a property, a literal or, if allowCall, a function call.
func (p *parser) parseOperand(allowCall bool) (node, *syntaxError) {
	t := p.next()
	switch t.kind {
	case tString:
		return &literal{t.str}, nil
	case tNumber:
		return &literal{t.num}, nil
	case tTime:
		return &literal{t.tm}, nil
	case tIdent:
		switch kw := keyword(t); {
		case kw == "true" || kw == "false":
			return &literal{kw == "true"}, nil
		case kw == "null":
			return &literal{nil}, nil
		case kw == "and" || kw == "or" || kw == "not" || isCmpOp(kw):
			return nil, &syntaxError{t.pos, "expected a property or value, found " + t.describe()}
		}
		if p.peek().kind == tLParen {
			if !allowCall {
				return nil, &syntaxError{t.pos, "function arguments must be properties or values"}
			}
			return p.parseCall(t)
		}
		return &property{path: t.text, segs: strings.Split(t.text, "/"), pos: t.pos}, nil
	}
	return nil, &syntaxError{t.pos, "expected a property or value, found " + t.describe()}
}

// parseCall parses the arguments of the function named by name.
func (p *parser) parseCall(name token) (node, *syntaxError) {
	fn := strings.ToLower(name.text)
	switch fn {
	case "startswith", "endswith", "contains", "substringof":
	default:
		return nil, &syntaxError{name.pos, fmt.Sprintf("unknown function %q; supported are startswith, endswith and contains", name.text)}
	}
	p.next() // (
	c := &call{fn: fn}
	for i := range c.args {
		if i > 0 {
			if t := p.next(); t.kind != tComma {
				return nil, &syntaxError{t.pos, fmt.Sprintf("expected ',' after the first argument of %s, found %s", fn, t.describe())}
			}
		}
		arg, err := p.parseOperand(false)
		if err != nil {
			return nil, err
		}
		c.args[i] = arg
	}
	if t := p.next(); t.kind != tRParen {
		return nil, &syntaxError{t.pos, fmt.Sprintf("%s takes 2 arguments; expected ')', found %s", fn, t.describe())}
	}
	if fn == "substringof" { // OData v3: substringof('needle', haystack)
		c.fn, c.args = "contains", [2]node{c.args[1], c.args[0]}
	}
	return c, nil
}

// Properties returns the property paths f references, each once, in order of
// first appearance.
func (f *Filter) Properties() []string {
	var out []string
	if f == nil {
		return out
	}
	seen := map[string]bool{}
	walkProperties(f.root, func(p *property) {
		if !seen[p.path] {
			seen[p.path] = true
			out = append(out, p.path)
		}
	})
	return out
}

// Allow returns nil if every property f references is one of allowed (exact,
// case-sensitive paths such as "executionInfo/exitCode"), else an
// InvalidQueryParameterValue error naming the first property that is not.
func Allow(f *Filter, allowed ...string) error {
	if f == nil {
		return nil
	}
	var bad *property
	walkProperties(f.root, func(p *property) {
		for _, a := range allowed {
			if p.path == a {
				return
			}
		}
		if bad == nil {
			bad = p
		}
	})
	if bad == nil {
		return nil
	}
	return invalidQuery(ParamFilter, f.src, bad.pos, fmt.Sprintf("property %q cannot be used in $filter", bad.path))
}

// walkProperties calls fn for each property under n, left to right.
func walkProperties(n node, fn func(*property)) {
	switch x := n.(type) {
	case *logical:
		walkProperties(x.l, fn)
		walkProperties(x.r, fn)
	case *negation:
		walkProperties(x.x, fn)
	case *comparison:
		walkProperties(x.l, fn)
		walkProperties(x.r, fn)
	case *call:
		walkProperties(x.args[0], fn)
		walkProperties(x.args[1], fn)
	case *property:
		fn(x)
	}
}

// String returns f in canonical form: lower-case keywords, minimal
// parentheses and literals spelt as Parse reads them back.
func (f *Filter) String() string {
	if f == nil || f.root == nil {
		return ""
	}
	var b strings.Builder
	format(&b, f.root, 0)
	return b.String()
}

// Precedence levels for format: a node binding looser than its context is
// parenthesized.
const (
	precOr = iota + 1
	precAnd
	precUnary
)

// format writes n to b, parenthesized if it binds looser than prec.
func format(b *strings.Builder, n node, prec int) {
	switch x := n.(type) {
	case *logical:
		own, op := precAnd, " and "
		if x.or {
			own, op = precOr, " or "
		}
		if own < prec {
			b.WriteByte('(')
			defer b.WriteByte(')')
		}
		format(b, x.l, own)
		b.WriteString(op)
		format(b, x.r, own+1) // a right operand of the same operator needs parentheses
	case *negation:
		b.WriteString("not ")
		format(b, x.x, precUnary)
	case *comparison:
		format(b, x.l, precUnary)
		b.WriteString(" " + x.op + " ")
		format(b, x.r, precUnary)
	case *call:
		b.WriteString(x.fn + "(")
		format(b, x.args[0], precUnary)
		b.WriteString(",")
		format(b, x.args[1], precUnary)
		b.WriteString(")")
	case *property:
		b.WriteString(x.path)
	case *literal:
		b.WriteString(formatValue(x.v))
	}
}

// formatValue spells a literal value as a filter literal.
func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return "datetime'" + v.Format(time.RFC3339Nano) + "'"
	}
	return "null"
}
