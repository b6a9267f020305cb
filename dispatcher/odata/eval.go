package odata

import (
	"cmp"
	"encoding/json"
	"strings"
	"time"
)

// Match reports whether entity, a JSON object decoded into a map[string]any,
// satisfies f. A nil or empty Filter matches everything. See the package
// documentation for how values compare.
func (f *Filter) Match(entity map[string]any) bool {
	if f == nil || f.root == nil {
		return true
	}
	return f.root.eval(entity) == true
}

func (n *logical) eval(e map[string]any) any {
	if n.or {
		return n.l.eval(e) == true || n.r.eval(e) == true
	}
	return n.l.eval(e) == true && n.r.eval(e) == true
}

func (n *negation) eval(e map[string]any) any { return n.x.eval(e) != true }

func (n *literal) eval(map[string]any) any { return n.v }

func (n *property) eval(e map[string]any) any {
	var cur any = e
	for _, seg := range n.segs {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[seg]
	}
	return normalize(cur)
}

func (n *call) eval(e map[string]any) any {
	s, ok1 := n.args[0].eval(e).(string)
	sub, ok2 := n.args[1].eval(e).(string)
	if !ok1 || !ok2 {
		return false
	}
	s, sub = strings.ToLower(s), strings.ToLower(sub)
	switch n.fn {
	case "startswith":
		return strings.HasPrefix(s, sub)
	case "endswith":
		return strings.HasSuffix(s, sub)
	}
	return strings.Contains(s, sub)
}

func (n *comparison) eval(e map[string]any) any {
	l, r := n.l.eval(e), n.r.eval(e)
	if l == nil || r == nil {
		if l == nil && r == nil {
			return n.op == "eq"
		}
		// "p ne null" holds for a present p, but a missing p is unknown:
		// it satisfies nothing but "p eq null".
		return n.op == "ne" && (isNull(n.l) || isNull(n.r))
	}
	return compareValues(n.op, l, r)
}

// isNull reports whether n is the literal null.
func isNull(n node) bool {
	l, ok := n.(*literal)
	return ok && l.v == nil
}

// compareValues applies op to two non-null values.
func compareValues(op string, l, r any) bool {
	switch a := l.(type) {
	case string:
		switch b := r.(type) {
		case string:
			if ta, ok := asTime(a); ok {
				if tb, ok := asTime(b); ok {
					return ordered(op, ta.Compare(tb))
				}
			}
			return compareStrings(op, a, b)
		case time.Time:
			if ta, ok := asTime(a); ok {
				return ordered(op, ta.Compare(b))
			}
		}
	case time.Time:
		switch b := r.(type) {
		case time.Time:
			return ordered(op, a.Compare(b))
		case string:
			if tb, ok := asTime(b); ok {
				return ordered(op, a.Compare(tb))
			}
		}
	case float64:
		if b, ok := r.(float64); ok {
			return ordered(op, cmp.Compare(a, b))
		}
	case bool:
		if b, ok := r.(bool); ok {
			switch op {
			case "eq":
				return a == b
			case "ne":
				return a != b
			}
			return false
		}
	}
	return op == "ne" // values of different types are never equal
}

// compareStrings compares case-insensitively for equality and
// lexicographically (byte-wise) for order.
func compareStrings(op string, a, b string) bool {
	if strings.EqualFold(a, b) {
		return op == "eq" || op == "ge" || op == "le"
	}
	return op != "eq" && ordered(op, strings.Compare(a, b))
}

// ordered applies op to the result c of a three-way comparison.
func ordered(op string, c int) bool {
	switch op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	}
	return c <= 0 // le
}

// asTime parses s as an RFC 3339 timestamp.
func asTime(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[10] != 'T' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// normalize turns the numbers other decoders produce into float64.
func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	case int:
		return float64(v)
	case int32:
		return float64(v)
	case int64:
		return float64(v)
	case float32:
		return float64(v)
	}
	return v
}
