package formula

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// call evaluates a builtin function.
func (e *evaluator) call(n *callExpr) (Value, *Error) {
	args := make([]Value, len(n.args))
	for i, a := range n.args {
		v, err := e.eval(a)
		if err != nil {
			return v, err
		}
		args[i] = v
	}
	switch n.fn.fn {
	case fnStop:
		return Value{}, &Error{Code: CodeEvaluationError, Msg: "stop", Err: errStop}
	case fnRand:
		return dbl(e.env.Rand()), nil
	case fnTime:
		return e.timeFn(n, args)
	case fnVal:
		return e.valFn(n, args)
	case fnPercentile:
		return e.percentile(n, args)
	case fnLg, fnLn, fnLog, fnCeil, fnFloor, fnRound:
		return e.elementwise(n, args)
	}
	xs, err := e.list(n, args)
	if err != nil {
		return Value{}, err
	}
	return e.aggregate(n, xs)
}

// list flattens a doubleVecList: each argument a double or a doubleVec.
func (e *evaluator) list(n *callExpr, args []Value) ([]float64, *Error) {
	var xs []float64
	for i, a := range args {
		if !a.isNumeric() {
			return nil, e.fail(n.args[i], "%s takes doubles and doubleVecs, got %s", n.fn.name, a.typeName())
		}
		xs = append(xs, a.items()...)
	}
	return xs, nil
}

// aggregate evaluates the doubleVecList → double functions.
func (e *evaluator) aggregate(n *callExpr, xs []float64) (Value, *Error) {
	switch n.fn.fn {
	case fnLen:
		return dbl(float64(len(xs))), nil
	case fnSum:
		return dbl(sum(xs)), nil
	case fnNorm:
		s := 0.0
		for _, x := range xs {
			s += x * x
		}
		return dbl(math.Sqrt(s)), nil
	}
	if len(xs) == 0 {
		return Value{}, e.fail(n, "%s of an empty list", n.fn.name)
	}
	switch n.fn.fn {
	case fnAvg:
		return dbl(sum(xs) / float64(len(xs))), nil
	case fnMax:
		return dbl(slices.Max(xs)), nil
	case fnMin:
		return dbl(slices.Min(xs)), nil
	case fnRange:
		return dbl(slices.Max(xs) - slices.Min(xs)), nil
	}
	// fnStd: the sample standard deviation (n-1 denominator); 0 for one value.
	if len(xs) == 1 {
		return dbl(0), nil
	}
	mean := sum(xs) / float64(len(xs))
	ss := 0.0
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return dbl(math.Sqrt(ss / float64(len(xs)-1))), nil
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

// elementwise evaluates lg, ln, log, ceil, floor and round: a single double
// gives a double; anything else is flattened and gives a doubleVec.
func (e *evaluator) elementwise(n *callExpr, args []Value) (Value, *Error) {
	var f func(float64) float64
	switch n.fn.fn {
	case fnLg:
		f = math.Log2
	case fnLn:
		f = math.Log
	case fnLog:
		f = math.Log10
	case fnCeil:
		f = math.Ceil
	case fnFloor:
		f = math.Floor
	default:
		f = math.RoundToEven // .NET Math.Round rounds half to even
	}
	if len(args) == 1 && args[0].kind == KindDouble {
		return dbl(f(args[0].num)), nil
	}
	xs, err := e.list(n, args)
	if err != nil {
		return Value{}, err
	}
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return vec(out), nil
}

// valFn is val(doubleVec v, double i): element i of v, from 0.
func (e *evaluator) valFn(n *callExpr, args []Value) (Value, *Error) {
	if !args[0].isNumeric() {
		return Value{}, e.fail(n.args[0], "val takes a doubleVec, got %s", args[0].typeName())
	}
	if args[1].kind != KindDouble {
		return Value{}, e.fail(n.args[1], "val takes a double index, got %s", args[1].typeName())
	}
	xs, i := args[0].items(), math.Trunc(args[1].num)
	if !(i >= 0 && i < float64(len(xs))) {
		return Value{}, e.fail(n, "val index %s is out of range for a doubleVec of length %d", formatDouble(args[1].num), len(xs))
	}
	return dbl(xs[int(i)]), nil
}

// percentile is percentile(doubleVec v, double p): the nearest-rank
// element of v at percentile p (0 to 100).
func (e *evaluator) percentile(n *callExpr, args []Value) (Value, *Error) {
	if !args[0].isNumeric() {
		return Value{}, e.fail(n.args[0], "percentile takes a doubleVec, got %s", args[0].typeName())
	}
	if args[1].kind != KindDouble {
		return Value{}, e.fail(n.args[1], "percentile takes a double percentile, got %s", args[1].typeName())
	}
	p := args[1].num
	if !(p >= 0 && p <= 100) {
		return Value{}, e.fail(n.args[1], "percentile %s is outside 0 to 100", formatDouble(p))
	}
	xs := slices.Clone(args[0].items())
	if len(xs) == 0 {
		return Value{}, e.fail(n, "percentile of an empty doubleVec")
	}
	slices.Sort(xs)
	rank := int(math.Ceil(p / 100 * float64(len(xs))))
	return dbl(xs[max(rank-1, 0)]), nil
}

// timeFn is time(string dateTime=""): now, or the parsed dateTime.
func (e *evaluator) timeFn(n *callExpr, args []Value) (Value, *Error) {
	if len(args) == 0 {
		return stamp(e.now), nil
	}
	if args[0].kind != KindString {
		return Value{}, e.fail(n.args[0], "time takes a string, got %s", args[0].typeName())
	}
	if strings.TrimSpace(args[0].str) == "" {
		return stamp(e.now), nil
	}
	t, ok := parseTime(args[0].str)
	if !ok {
		return Value{}, e.fail(n.args[0], "time(%q): not a W3C-DTF or RFC 1123 date", args[0].str)
	}
	return stamp(t), nil
}

// parseTime parses W3C-DTF (ISO 8601 profile: YYYY, YYYY-MM, YYYY-MM-DD,
// YYYY-MM-DDThh:mm[:ss[.s]]TZD, TZD optional meaning UTC) with at most 7
// fractional digits (.NET's precision), or RFC 1123
// ("Mon, 02 Jan 2006 15:04:05 GMT").
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '.'); i >= 0 && strings.Contains(s, "T") {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j-i-1 > 7 || j-i-1 == 0 {
			return time.Time{}, false
		}
	}
	for _, layout := range [...]string{
		"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05", "2006-01-02T15:04",
		"2006-01-02", "2006-01", "2006", time.RFC1123, time.RFC1123Z,
	} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// method evaluates a sample method of a read-only service variable.
func (e *evaluator) method(n *methodExpr) (Value, *Error) {
	args := make([]Value, len(n.args))
	for i, a := range n.args {
		v, err := e.eval(a)
		if err != nil {
			return v, err
		}
		args[i] = v
	}
	samples, _ := e.env.Samples(n.recv)
	switch n.m.m {
	case mCount:
		return dbl(float64(len(samples))), nil
	case mGetSamplePeriod:
		return interval(e.period), nil
	case mHistoryBeginTime:
		if len(samples) == 0 {
			return Value{}, e.fail(n, "%s has no samples", n.recv)
		}
		return stamp(samples[0].Time), nil
	case mGetSamplePercent:
		w, err := e.window(n, args)
		if err != nil {
			return Value{}, err
		}
		if len(args) != w.used {
			return Value{}, e.fail(n.args[w.used], "GetSamplePercent takes timestamps or timeintervals, got %s", args[w.used].typeName())
		}
		_, pct := w.pick(samples, e.period)
		return dbl(pct), nil
	}
	return e.getSample(n, args, samples)
}

// getSample is GetSample(count) or GetSample(start [, end] [, samplePercent]).
func (e *evaluator) getSample(n *methodExpr, args []Value, samples []Sample) (Value, *Error) {
	if args[0].kind == KindDouble {
		if len(args) > 1 {
			return Value{}, e.fail(n, "GetSample(count) takes one argument")
		}
		count := math.Trunc(args[0].num)
		if !(count >= 1) {
			return Value{}, e.fail(n.args[0], "GetSample count must be at least 1, got %s", formatDouble(args[0].num))
		}
		if float64(len(samples)) < count {
			return Value{}, errAt(e.src, n.off, CodeInsufficientSampleData, ErrInsufficientSamples,
				fmt.Sprintf("Insufficient data from data set: %s wanted %s samples, received %d",
					n.recv, formatDouble(count), len(samples)))
		}
		out := make([]float64, int(count))
		for i, s := range samples[len(samples)-int(count):] {
			out[i] = s.Value
		}
		return vec(out), nil
	}
	w, err := e.window(n, args)
	if err != nil {
		return Value{}, err
	}
	out, got := w.pick(samples, e.period)
	if len(args) > w.used {
		p := args[w.used]
		if p.kind != KindDouble || len(args) > w.used+1 {
			return Value{}, e.fail(n.args[w.used], "GetSample takes (start [, end] [, samplePercent]); got %s where samplePercent belongs", p.typeName())
		}
		if got < p.num {
			return Value{}, errAt(e.src, n.off, CodeInsufficientSampleData, ErrInsufficientSamples,
				fmt.Sprintf("Insufficient data from data set: %s wanted %s%%, received %s%%",
					n.recv, formatDouble(p.num), formatDouble(math.Trunc(got))))
		}
	}
	return vec(out), nil
}

// window is a look-back window (from, to] and how many arguments defined it.
type window struct {
	from, to time.Time
	used     int
}

// window reads the start and optional end of a look-back window: each a
// timeinterval back from now or a timestamp, in either order.
func (e *evaluator) window(n *methodExpr, args []Value) (window, *Error) {
	point := func(v Value) (time.Time, bool) {
		switch v.kind {
		case KindTimeInterval:
			return e.now.Add(-v.dur), true
		case KindTimestamp:
			return v.ts, true
		}
		return time.Time{}, false
	}
	a, ok := point(args[0])
	if !ok {
		return window{}, e.fail(n.args[0], "%s takes a count, a timestamp or a timeinterval, got %s", n.m.name, args[0].typeName())
	}
	w := window{from: a, to: e.now, used: 1}
	if len(args) > 1 {
		if b, ok := point(args[1]); ok {
			w.to, w.used = b, 2
		}
	}
	if w.to.Before(w.from) {
		w.from, w.to = w.to, w.from
	}
	return w, nil
}

// pick returns the values of the samples in the window and the percentage
// of the window's expected samples (one per period) they make up.
func (w window) pick(samples []Sample, period time.Duration) (values []float64, percent float64) {
	values = []float64{}
	for _, s := range samples {
		if s.Time.After(w.from) && !s.Time.After(w.to) {
			values = append(values, s.Value)
		}
	}
	expected := int64(w.to.Sub(w.from) / period)
	if expected == 0 {
		return values, 0
	}
	return values, min(100, 100*float64(len(values))/float64(expected))
}
