package formula

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a formula value.
type Kind int

// The formula types. doubleVecList is not a value type: it is the argument
// list of the aggregate functions, flattened into one doubleVec.
const (
	KindDouble       Kind = iota + 1 // a float64; also the boolean type (nonzero is true)
	KindDoubleVec                    // a vector of float64, e.g. a GetSample result
	KindString                       // a string literal or a deallocation option
	KindTimestamp                    // a point in time (UTC)
	KindTimeInterval                 // a signed duration
)

// String returns the type's name as the Azure docs spell it.
func (k Kind) String() string {
	switch k {
	case KindDouble:
		return "double"
	case KindDoubleVec:
		return "doubleVec"
	case KindString:
		return "string"
	case KindTimestamp:
		return "timestamp"
	case KindTimeInterval:
		return "timeinterval"
	default:
		return "none"
	}
}

// Value is a formula value. The zero Value has no type (Kind 0); it is what
// stop() returns.
type Value struct {
	kind Kind
	num  float64
	vec  []float64
	str  string
	ts   time.Time
	dur  time.Duration
}

func dbl(f float64) Value            { return Value{kind: KindDouble, num: f} }
func vec(v []float64) Value          { return Value{kind: KindDoubleVec, vec: v} }
func str(s string) Value             { return Value{kind: KindString, str: s} }
func stamp(t time.Time) Value        { return Value{kind: KindTimestamp, ts: t.UTC()} }
func interval(d time.Duration) Value { return Value{kind: KindTimeInterval, dur: d} }
func boolean(b bool) Value           { return dbl(b2f(b)) }
func (v Value) truthy() bool         { return v.num != 0 }
func (v Value) isNumeric() bool      { return v.kind == KindDouble || v.kind == KindDoubleVec }
func (v Value) typeName() string     { return v.kind.String() }
func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// items returns a KindDouble as a one-element vector and a KindDoubleVec as is.
func (v Value) items() []float64 {
	if v.kind == KindDouble {
		return []float64{v.num}
	}
	return v.vec
}

// Kind returns the value's type.
func (v Value) Kind() Kind { return v.kind }

// Double returns a KindDouble value; 0 for other kinds.
func (v Value) Double() float64 { return v.num }

// Vec returns a copy of a KindDoubleVec value; nil for other kinds.
func (v Value) Vec() []float64 {
	if v.kind != KindDoubleVec {
		return nil
	}
	return append([]float64{}, v.vec...)
}

// Str returns a KindString value; "" for other kinds.
func (v Value) Str() string { return v.str }

// Time returns a KindTimestamp value (UTC); the zero time for other kinds.
func (v Value) Time() time.Time { return v.ts }

// Interval returns a KindTimeInterval value; 0 for other kinds.
func (v Value) Interval() time.Duration { return v.dur }

// String renders the value as autoScaleRun.results does: doubles in .NET's
// shortest round-trip form ("2", "0.5", "1E+15"), vectors as "[1,2,3]",
// timestamps as "2016-10-13T19:18:47.805Z", intervals as .NET TimeSpan
// ("00:15:00", "1.02:03:04.5"), strings as they are.
func (v Value) String() string {
	switch v.kind {
	case KindDouble:
		return formatDouble(v.num)
	case KindDoubleVec:
		parts := make([]string, len(v.vec))
		for i, f := range v.vec {
			parts[i] = formatDouble(f)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case KindString:
		return v.str
	case KindTimestamp:
		return v.ts.UTC().Format("2006-01-02T15:04:05.000Z")
	case KindTimeInterval:
		return formatInterval(v.dur)
	default:
		return ""
	}
}

// formatDouble formats f like .NET Core's double.ToString(): the shortest
// digits that round-trip, in scientific notation ("1E+15", "1E-05") when the
// decimal exponent is at least 15 or below -4.
func formatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // "1.5e+06"
	i := strings.IndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[i+1:])
	if exp >= -4 && exp < 15 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	sign := "+"
	if exp < 0 {
		sign, exp = "-", -exp
	}
	digits := strconv.Itoa(exp)
	if len(digits) < 2 {
		digits = "0" + digits
	}
	return e[:i] + "E" + sign + digits
}

// formatInterval formats d as .NET's TimeSpan.ToString(): [-][d.]hh:mm:ss[.fffffff].
func formatInterval(d time.Duration) string {
	var b strings.Builder
	ticks := int64(d / 100) // .NET ticks are 100 ns
	if ticks < 0 {
		b.WriteByte('-')
	}
	u := uint64(ticks)
	if ticks < 0 {
		u = uint64(-(ticks + 1)) + 1
	}
	const perSec = 10_000_000
	frac, secs := u%perSec, u/perSec
	days, hours, mins, s := secs/86400, secs/3600%24, secs/60%60, secs%60
	if days > 0 {
		b.WriteString(strconv.FormatUint(days, 10) + ".")
	}
	two := func(n uint64) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }
	b.WriteString(two(hours) + ":" + two(mins) + ":" + two(s))
	if frac > 0 {
		f := strconv.FormatUint(frac, 10)
		b.WriteString("." + strings.Repeat("0", 7-len(f)) + f)
	}
	return b.String()
}
