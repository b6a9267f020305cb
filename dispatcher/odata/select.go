package odata

import (
	"fmt"
	"strings"
)

// blanks are the characters trimmed around $select items.
const blanks = " \t\r\n"

// Selection is a parsed $select clause: the properties to keep, as a tree of
// path segments. A nil *Selection keeps everything.
type Selection struct {
	all  bool                  // keep the whole value
	kids map[string]*Selection // else keep only these properties
}

// ParseSelect parses a $select value, a comma-separated list of property
// names ("id,state,executionInfo"). A name may be a path with '/'
// ("executionInfo/exitCode") to keep one nested property, and "*" keeps
// everything. Names are case-sensitive. An empty or blank value yields a nil
// Selection, which keeps everything. Invalid lists yield a 400
// InvalidQueryParameterValue *batch.Error naming $select.
func ParseSelect(sel string) (*Selection, error) {
	if strings.Trim(sel, blanks) == "" {
		return nil, nil
	}
	root := &Selection{}
	for start := 0; start <= len(sel); {
		end := strings.IndexByte(sel[start:], ',')
		if end < 0 {
			end = len(sel)
		} else {
			end += start
		}
		raw := sel[start:end]
		item := strings.Trim(raw, blanks)
		pos := start + len(raw) - len(strings.TrimLeft(raw, blanks))
		if item == "" {
			return nil, invalidQuery(ParamSelect, sel, pos, "empty property name")
		}
		segs := strings.Split(item, "/")
		for i, seg := range segs {
			if !validSelectSegment(seg, i == len(segs)-1) {
				return nil, invalidQuery(ParamSelect, sel, pos, fmt.Sprintf("invalid property name %q", item))
			}
		}
		root.add(segs)
		start = end + 1
	}
	return root, nil
}

// validSelectSegment reports whether seg is an identifier, or "*" when last.
func validSelectSegment(seg string, last bool) bool {
	if seg == "*" {
		return last
	}
	if seg == "" || !isIdentStart(seg[0]) {
		return false
	}
	return skipIdent(seg, 0) == len(seg)
}

// add marks the path segs as selected.
func (s *Selection) add(segs []string) {
	for _, seg := range segs {
		if s.all {
			return
		}
		if seg == "*" {
			break
		}
		if s.kids == nil {
			s.kids = map[string]*Selection{}
		}
		kid := s.kids[seg]
		if kid == nil {
			kid = &Selection{}
			s.kids[seg] = kid
		}
		s = kid
	}
	s.all, s.kids = true, nil
}

// Apply returns a new map holding only the selected properties of entity,
// plus any top-level "odata.*" annotations such as "odata.metadata". Nested
// selections descend into objects and into arrays of objects. A nil
// Selection, or one holding "*", returns entity itself. Values are shared
// with entity, not copied; entity is not modified.
func (s *Selection) Apply(entity map[string]any) map[string]any {
	if s == nil || s.all || entity == nil {
		return entity
	}
	out := s.project(entity)
	for k, v := range entity {
		if strings.HasPrefix(k, "odata.") {
			out[k] = v
		}
	}
	return out
}

// project keeps the selected properties of m.
func (s *Selection) project(m map[string]any) map[string]any {
	out := make(map[string]any, len(s.kids)+1)
	for name, kid := range s.kids {
		v, ok := m[name]
		if !ok {
			continue
		}
		if kid.all {
			out[name] = v
			continue
		}
		switch v := v.(type) {
		case map[string]any:
			out[name] = kid.project(v)
		case []any:
			items := make([]any, len(v))
			for i, item := range v {
				if im, ok := item.(map[string]any); ok {
					items[i] = kid.project(im)
				} else {
					items[i] = item
				}
			}
			out[name] = items
		}
	}
	return out
}

// Select parses sel with ParseSelect and applies it to entity. To trim the
// items of a list, parse once with ParseSelect instead, so that an invalid
// $select is reported even when the list is empty.
func Select(entity map[string]any, sel string) (map[string]any, error) {
	s, err := ParseSelect(sel)
	if err != nil {
		return nil, err
	}
	return s.Apply(entity), nil
}
