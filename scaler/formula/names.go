package formula

import (
	"strings"
	"time"
)

// Settable service variables, by their canonical names. Reading one before
// the formula assigns it gives the pool's current value (Env.Scalar).
const (
	TargetDedicatedNodes   = "$TargetDedicatedNodes"
	TargetLowPriorityNodes = "$TargetLowPriorityNodes"
	NodeDeallocationOption = "$NodeDeallocationOption"
	// TargetDedicated is the old alias of $TargetDedicatedNodes; when a
	// formula sets both, the full name wins.
	TargetDedicated = "$TargetDedicated"
	// TargetLowPriority is the old alias of $TargetLowPriorityNodes.
	TargetLowPriority = "$TargetLowPriority"
)

// The $NodeDeallocationOption values. Requeue is the default.
const (
	Requeue        = "requeue"
	Terminate      = "terminate"
	TaskCompletion = "taskcompletion"
	RetainedData   = "retaineddata"
)

// Limits Azure puts on a formula.
const (
	MaxLength     = 8192 // bytes of source (Azure: "8 KB", "8192 characters")
	MaxStatements = 100  // statements separated by ';'
	maxDepth      = 200  // expression nesting, to bound recursion
)

// DefaultSamplePeriod is the spacing of metric samples (GetSamplePeriod)
// of an Env that does not say otherwise (see SamplePeriodEnv): Azure's 30 s.
// The percentage of a window's samples that are present is computed
// against the period.
const DefaultSamplePeriod = 30 * time.Second

// varClass says what an identifier refers to.
type varClass int

const (
	classUser     varClass = iota // a user variable ($-prefixed or not)
	classSettable                 // a read/write service variable
	classReadOnly                 // a read-only service variable (metrics)
	classConst                    // TimeInterval_* or a deallocation option
)

// serviceVar resolves a $-name, case-insensitively, to its canonical
// spelling and class. ok is false for names that are user variables.
func serviceVar(name string) (canonical string, class varClass, ok bool) {
	switch strings.ToLower(name) {
	case "$targetdedicatednodes":
		return TargetDedicatedNodes, classSettable, true
	case "$targetlowprioritynodes":
		return TargetLowPriorityNodes, classSettable, true
	case "$nodedeallocationoption":
		return NodeDeallocationOption, classSettable, true
	case "$targetdedicated":
		return TargetDedicated, classSettable, true
	case "$targetlowpriority":
		return TargetLowPriority, classSettable, true
	}
	for _, ro := range [...]string{
		"$CPUPercent", "$WallClockSeconds", "$MemoryBytes", "$DiskBytes",
		"$DiskReadBytes", "$DiskWriteBytes", "$DiskReadOps", "$DiskWriteOps",
		"$NetworkInBytes", "$NetworkOutBytes", "$SampleNodeCount",
		"$ActiveTasks", "$RunningTasks", "$PendingTasks", "$SucceededTasks", "$FailedTasks",
		"$ActiveTaskSlots", "$RunningTaskSlots", "$PendingTaskSlots",
		"$TaskSlotsPerNode", "$CurrentDedicatedNodes", "$CurrentLowPriorityNodes",
		"$UsableNodeCount", "$PreemptedNodeCount",
	} {
		if strings.EqualFold(name, ro) {
			return ro, classReadOnly, true
		}
	}
	if strings.EqualFold(name, "$CurrentDedicated") { // the pre-2017 name
		return "$CurrentDedicatedNodes", classReadOnly, true
	}
	return "", classUser, false
}

// constant resolves a $-less name, case-insensitively, to a predefined
// constant: a TimeInterval_* or a $NodeDeallocationOption value.
func constant(name string) (Value, bool) {
	switch strings.ToLower(name) {
	case "timeinterval_zero":
		return interval(0), true
	case "timeinterval_100ns":
		return interval(100 * time.Nanosecond), true
	case "timeinterval_microsecond":
		return interval(time.Microsecond), true
	case "timeinterval_millisecond":
		return interval(time.Millisecond), true
	case "timeinterval_second":
		return interval(time.Second), true
	case "timeinterval_minute":
		return interval(time.Minute), true
	case "timeinterval_hour":
		return interval(time.Hour), true
	case "timeinterval_day":
		return interval(24 * time.Hour), true
	case "timeinterval_week":
		return interval(7 * 24 * time.Hour), true
	case "timeinterval_year":
		return interval(365 * 24 * time.Hour), true
	case Requeue, Terminate, TaskCompletion, RetainedData:
		return str(strings.ToLower(name)), true
	}
	return Value{}, false
}

// builtin is a function of the formula language.
type builtin int

const (
	fnAvg builtin = iota + 1
	fnLen
	fnLg
	fnLn
	fnLog
	fnMax
	fnMin
	fnNorm
	fnPercentile
	fnRand
	fnRange
	fnStd
	fnStop
	fnSum
	fnTime
	fnVal
	fnCeil
	fnFloor
	fnRound
)

// funcSpec names a builtin and bounds its argument count (max -1: any).
type funcSpec struct {
	fn       builtin
	name     string
	min, max int
}

// lookupFunc resolves a function name, case-insensitively.
func lookupFunc(name string) (funcSpec, bool) {
	for _, s := range [...]funcSpec{
		{fnAvg, "avg", 1, -1}, {fnLen, "len", 1, -1}, {fnLg, "lg", 1, -1}, {fnLn, "ln", 1, -1},
		{fnLog, "log", 1, -1}, {fnMax, "max", 1, -1}, {fnMin, "min", 1, -1}, {fnNorm, "norm", 1, -1},
		{fnPercentile, "percentile", 2, 2}, {fnRand, "rand", 0, 0}, {fnRange, "range", 1, -1},
		{fnStd, "std", 1, -1}, {fnStop, "stop", 0, 0}, {fnSum, "sum", 1, -1}, {fnTime, "time", 0, 1},
		{fnVal, "val", 2, 2}, {fnCeil, "ceil", 1, -1}, {fnFloor, "floor", 1, -1}, {fnRound, "round", 1, -1},
	} {
		if strings.EqualFold(name, s.name) {
			return s, true
		}
	}
	return funcSpec{}, false
}

// sampleMethod is a method of a read-only service variable.
type sampleMethod int

const (
	mGetSample sampleMethod = iota + 1
	mGetSamplePeriod
	mCount
	mHistoryBeginTime
	mGetSamplePercent
)

// methodSpec names a sample method and bounds its argument count.
type methodSpec struct {
	m        sampleMethod
	name     string
	min, max int
}

// lookupMethod resolves a sample method name, case-insensitively.
func lookupMethod(name string) (methodSpec, bool) {
	for _, s := range [...]methodSpec{
		{mGetSample, "GetSample", 1, 3}, {mGetSamplePeriod, "GetSamplePeriod", 0, 0},
		{mCount, "Count", 0, 0}, {mHistoryBeginTime, "HistoryBeginTime", 0, 0},
		{mGetSamplePercent, "GetSamplePercent", 1, 2},
	} {
		if strings.EqualFold(name, s.name) {
			return s, true
		}
	}
	return methodSpec{}, false
}

// tsField is a member of a timestamp.
type tsField int

const (
	fYear tsField = iota + 1
	fMonth
	fDay
	fWeekday
	fHour
	fMinute
	fSecond
)

// lookupField resolves a timestamp member name, case-insensitively.
func lookupField(name string) (tsField, bool) {
	for i, n := range [...]string{"year", "month", "day", "weekday", "hour", "minute", "second"} {
		if strings.EqualFold(name, n) {
			return tsField(i + 1), true
		}
	}
	return 0, false
}

// field returns member f of t (UTC): weekday is 1 for Monday to 7 for Sunday.
func field(t time.Time, f tsField) float64 {
	t = t.UTC()
	switch f {
	case fYear:
		return float64(t.Year())
	case fMonth:
		return float64(t.Month())
	case fDay:
		return float64(t.Day())
	case fWeekday:
		if t.Weekday() == time.Sunday {
			return 7
		}
		return float64(t.Weekday())
	case fHour:
		return float64(t.Hour())
	case fMinute:
		return float64(t.Minute())
	default:
		return float64(t.Second())
	}
}
