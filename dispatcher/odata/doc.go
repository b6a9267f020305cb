// Package odata implements the subset of OData query options that Azure
// Batch's list operations accept: $filter and $select.
//
// Parse turns a $filter expression into a *Filter. The grammar is
//
//	filter     = or
//	or         = and { "or" and }
//	and        = unary { "and" unary }
//	unary      = "not" unary | "(" or ")" | comparison
//	comparison = operand [ ("eq"|"ne"|"gt"|"ge"|"lt"|"le") operand ]
//	operand    = property | literal | function "(" arg "," arg ")"
//	arg        = property | literal
//
// where an operand standing alone must be a boolean property, a function or
// true/false. So "not" binds tighter than "and", which binds tighter than
// "or", and "not state eq 'active'" means "not (state eq 'active')".
// Keywords, function names (startswith, endswith, contains, substringof) and
// the literals true, false and null are case-insensitive; property paths such
// as executionInfo/exitCode are case-sensitive, as Azure's property names are.
// Literals are strings in single quotes, where a doubled quote stands for one
// quote, numbers (12, -3, 2.5, 1e3), true, false, null, datetime literals
// and bare timestamps:
//
//	id eq 'it''s' and priority gt -3 and exitCode ne null
//	creationTime gt datetime'2024-01-02T03:04:05Z'
//	creationTime le 2024-01-02T03:04:05.123Z
//
// A Filter is evaluated with Match against an entity decoded from JSON into a
// map[string]any. Comparisons follow what Azure Batch clients rely on:
//
//   - strings compare case-insensitively for eq and ne (Azure matches enum
//     values such as 'Active' case-insensitively) and lexicographically for
//     gt, ge, lt and le; startswith, endswith and contains are
//     case-insensitive too;
//   - two RFC 3339 timestamps compare as instants, whether the filter spells
//     them as datetime'…', bare or quoted;
//   - numbers compare numerically, booleans only with eq and ne;
//   - a missing property is null: "p eq null" is true and every other
//     comparison with it is false, while a present p makes "p ne null" true;
//   - values of different types are never equal ("ne" is true, the rest false).
//
// Allow checks a Filter's properties against a per-resource allow-list, and
// ParseSelect/Select trim entities to the properties a $select lists. Every
// invalid input yields Azure's 400 InvalidQueryParameterValue *batch.Error
// naming the query parameter, its value and, under "Reason", what is wrong
// and at which column.
package odata
