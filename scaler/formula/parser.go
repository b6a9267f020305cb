package formula

import (
	"fmt"
	"strconv"
)

// Formula is a parsed autoscale formula. It is immutable and safe for
// concurrent use; Eval it as often as needed.
type Formula struct {
	src   string
	stmts []stmt
}

// Source returns the formula text Parse was given.
func (f *Formula) Source() string { return f.src }

// Len returns the number of statements.
func (f *Formula) Len() int { return len(f.stmts) }

// stmt is "target = x" or, with target "", a bare expression.
type stmt struct {
	target string   // variable assigned: canonical for service variables, as written for user ones
	class  varClass // classUser or classSettable when target != ""
	x      node
}

// node is an expression. Every node records the byte offset errors point at.
type node interface{ offset() int }

type (
	numLit struct {
		off int
		v   float64
	}
	strLit struct {
		off int
		v   string
	}
	varRef struct { // a variable or predefined constant
		off   int
		name  string // canonical for service variables
		class varClass
		konst Value // classConst
	}
	unaryExpr struct {
		off int
		op  tokKind // tMinus or tNot
		x   node
	}
	binaryExpr struct {
		off  int // of the operator
		op   tokKind
		x, y node
	}
	condExpr struct {
		off     int // of the '?'
		c, a, b node
	}
	callExpr struct {
		off  int
		fn   funcSpec
		args []node
	}
	methodExpr struct { // $Metric.GetSample(...)
		off  int // of the method name
		recv string
		m    methodSpec
		args []node
	}
	fieldExpr struct { // t.hour
		off  int // of the member name
		x    node
		f    tsField
		name string
	}
)

func (n *numLit) offset() int     { return n.off }
func (n *strLit) offset() int     { return n.off }
func (n *varRef) offset() int     { return n.off }
func (n *unaryExpr) offset() int  { return n.off }
func (n *binaryExpr) offset() int { return n.off }
func (n *condExpr) offset() int   { return n.off }
func (n *callExpr) offset() int   { return n.off }
func (n *methodExpr) offset() int { return n.off }
func (n *fieldExpr) offset() int  { return n.off }

// Parse parses an autoscale formula: statements separated by ';' (a final
// ';' is allowed), each "name = expr" or a bare expression, with
// whitespace, line breaks and // comments anywhere. Parse checks what can
// be checked without running the formula: syntax, the limits, that
// functions, methods and timestamp members exist and get a valid number of
// arguments, that sample methods are called on read-only service variables
// and that no read-only service variable or constant is assigned. Types
// are checked by Eval.
//
// Errors are *Error: ErrTooLong or ErrTooManyStatements (code
// AutoScaleFormulaTooLong), otherwise ErrSyntax (AutoScalingFormulaSyntaxError).
func Parse(src string) (*Formula, error) {
	if len(src) > MaxLength {
		return nil, &Error{Code: CodeTooLong, Err: ErrTooLong,
			Msg: fmt.Sprintf("The formula is %d bytes long; the maximum is %d", len(src), MaxLength)}
	}
	toks, lerr := lex(src)
	if lerr != nil {
		return nil, lerr
	}
	p := &parser{src: src, toks: toks}
	f, err := p.formula()
	if err != nil {
		return nil, err
	}
	return f, nil
}

// parser is a recursive-descent parser over the token slice.
type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

// errf is the *Error for a syntax error at byte offset off.
func (p *parser) errf(off int, format string, args ...any) *Error {
	return errAt(p.src, off, CodeSyntaxError, ErrSyntax, fmt.Sprintf(format, args...))
}

func (p *parser) peek() token        { return p.toks[p.i] }
func (p *parser) peekAt(n int) token { return p.toks[min(p.i+n, len(p.toks)-1)] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// unexpected reports the current token as unexpected where want was expected.
func (p *parser) unexpected(want string) *Error {
	t := p.peek()
	got := t.kind.String()
	if t.kind == tIdent || t.kind == tNum || t.kind == tStr {
		got = strconv.Quote(t.text)
	}
	return p.errf(t.off, "unexpected %s, expected %s", got, want)
}

func (p *parser) expect(k tokKind) (token, *Error) {
	if p.peek().kind != k {
		return token{}, p.unexpected(k.String())
	}
	return p.next(), nil
}

// formula := stmt { ";" stmt } [ ";" ]
func (p *parser) formula() (*Formula, *Error) {
	f := &Formula{src: p.src}
	for p.peek().kind != tEOF {
		if len(f.stmts) == MaxStatements {
			return nil, errAt(p.src, p.peek().off, CodeTooLong, ErrTooManyStatements,
				fmt.Sprintf("The formula has more than %d statements", MaxStatements))
		}
		if p.peek().kind == tSemi {
			return nil, p.errf(p.peek().off, "empty statement")
		}
		s, err := p.stmt()
		if err != nil {
			return nil, err
		}
		f.stmts = append(f.stmts, s)
		switch p.peek().kind {
		case tSemi:
			p.next()
		case tEOF:
		default:
			return nil, p.unexpected("';' or end of formula")
		}
	}
	if len(f.stmts) == 0 {
		return nil, p.errf(len(p.src), "the formula has no statements")
	}
	return f, nil
}

// stmt := ident "=" expr | expr
func (p *parser) stmt() (stmt, *Error) {
	t := p.peek()
	if t.kind != tIdent || p.peekAt(1).kind != tAssign {
		x, err := p.expr()
		return stmt{x: x}, err
	}
	p.next()
	p.next()
	s := stmt{target: t.text, class: classUser}
	if t.text[0] == '$' {
		if name, class, ok := serviceVar(t.text); ok {
			if class == classReadOnly {
				return s, p.errf(t.off, "%s is a read-only service variable and cannot be assigned", name)
			}
			s.target, s.class = name, class
		}
	} else if _, ok := constant(t.text); ok {
		return s, p.errf(t.off, "%s is a predefined constant and cannot be assigned", t.text)
	}
	x, err := p.expr()
	s.x = x
	return s, err
}

// expr := or [ "?" expr ":" expr ]
func (p *parser) expr() (node, *Error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.errf(p.peek().off, "expression nested more than %d deep", maxDepth)
	}
	c, err := p.binary(1)
	if err != nil || p.peek().kind != tQuestion {
		return c, err
	}
	q := p.next()
	a, err := p.expr()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tColon); err != nil {
		return nil, err
	}
	b, err := p.expr()
	if err != nil {
		return nil, err
	}
	return &condExpr{off: q.off, c: c, a: a, b: b}, nil
}

// precedence returns the binding level of a binary operator, loosest
// first (1 to maxLevel), or 0 for other tokens. All binary operators are
// left associative; the comparisons share one level, as the Azure grammar
// sketch has it.
func precedence(k tokKind) int {
	switch k {
	case tOr:
		return 1
	case tAnd:
		return 2
	case tLT, tLE, tEQ, tGE, tGT, tNE:
		return 3
	case tPlus, tMinus:
		return 4
	case tStar, tSlash:
		return maxLevel
	}
	return 0
}

const maxLevel = 5

// binary parses the operators of the given level and tighter.
func (p *parser) binary(level int) (node, *Error) {
	if level > maxLevel {
		return p.unary()
	}
	x, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for precedence(p.peek().kind) == level {
		op := p.next()
		y, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		x = &binaryExpr{off: op.off, op: op.kind, x: x, y: y}
	}
	return x, nil
}

// unary := ("-" | "!") unary | postfix
func (p *parser) unary() (node, *Error) {
	if k := p.peek().kind; k == tMinus || k == tNot {
		op := p.next()
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxDepth {
			return nil, p.errf(op.off, "expression nested more than %d deep", maxDepth)
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &unaryExpr{off: op.off, op: op.kind, x: x}, nil
	}
	return p.postfix()
}

// postfix := primary { "." member [ "(" args ")" ] }
func (p *parser) postfix() (node, *Error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tDot {
		p.next()
		name, err := p.expect(tIdent)
		if err != nil {
			return nil, err
		}
		if p.peek().kind != tLParen {
			f, ok := lookupField(name.text)
			if !ok {
				return nil, p.errf(name.off, "unknown member %q; a timestamp has year, month, day, weekday, hour, minute and second", name.text)
			}
			x = &fieldExpr{off: name.off, x: x, f: f, name: name.text}
			continue
		}
		m, ok := lookupMethod(name.text)
		if !ok {
			return nil, p.errf(name.off, "unknown method %q", name.text)
		}
		v, isVar := x.(*varRef)
		if !isVar || v.class != classReadOnly {
			return nil, p.errf(name.off, "%s can only be called on a read-only service variable such as $PendingTasks", m.name)
		}
		args, err := p.args(name, m.name, m.min, m.max)
		if err != nil {
			return nil, err
		}
		x = &methodExpr{off: name.off, recv: v.name, m: m, args: args}
	}
	return x, nil
}

// args parses "(" [ expr { "," expr } ] ")" and checks the count.
func (p *parser) args(fn token, name string, lo, hi int) ([]node, *Error) {
	if _, err := p.expect(tLParen); err != nil {
		return nil, err
	}
	var args []node
	if p.peek().kind != tRParen {
		for {
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if p.peek().kind != tComma {
				break
			}
			p.next()
		}
	}
	if _, err := p.expect(tRParen); err != nil {
		return nil, err
	}
	if len(args) < lo || (hi >= 0 && len(args) > hi) {
		want := strconv.Itoa(lo)
		switch {
		case hi < 0:
			want = "at least " + want
		case hi != lo:
			want += " to " + strconv.Itoa(hi)
		}
		return nil, p.errf(fn.off, "%s takes %s argument(s), got %d", name, want, len(args))
	}
	return args, nil
}

// primary := number | string | ident | func "(" args ")" | "(" expr ")"
func (p *parser) primary() (node, *Error) {
	t := p.peek()
	switch t.kind {
	case tNum:
		p.next()
		return &numLit{off: t.off, v: t.num}, nil
	case tStr:
		p.next()
		return &strLit{off: t.off, v: t.str}, nil
	case tLParen:
		p.next()
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen); err != nil {
			return nil, err
		}
		return x, nil
	case tIdent:
		p.next()
		if p.peek().kind == tLParen {
			fn, ok := lookupFunc(t.text)
			if !ok {
				return nil, p.errf(t.off, "unknown function %q", t.text)
			}
			args, err := p.args(t, fn.name, fn.min, fn.max)
			if err != nil {
				return nil, err
			}
			return &callExpr{off: t.off, fn: fn, args: args}, nil
		}
		return resolve(t), nil
	}
	return nil, p.unexpected("an expression")
}

// resolve classifies an identifier used as a value.
func resolve(t token) *varRef {
	if t.text[0] == '$' {
		if name, class, ok := serviceVar(t.text); ok {
			return &varRef{off: t.off, name: name, class: class}
		}
	} else if v, ok := constant(t.text); ok {
		return &varRef{off: t.off, name: t.text, class: classConst, konst: v}
	}
	return &varRef{off: t.off, name: t.text, class: classUser}
}
