package formula

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sample is one metric sample of a read-only service variable.
type Sample struct {
	Time  time.Time
	Value float64
}

// Env is what a formula reads from the pool. Names are canonical service
// variable names with their '$' ("$PendingTasks", "$TargetDedicatedNodes").
type Env interface {
	// Now is the evaluation time: time() and the look-back windows of the
	// sample methods are relative to it.
	Now() time.Time
	// Scalar returns the current value of a service variable used as a
	// plain value ($CurrentDedicatedNodes, $TaskSlotsPerNode, and the pool's
	// current $TargetDedicatedNodes / $TargetLowPriorityNodes, which a formula
	// reads before it assigns them). ok is false if the pool has none.
	Scalar(name string) (v float64, ok bool)
	// Samples returns the sample history of a metric, oldest first and
	// newest last, holding only samples already visible to formulas.
	// ok is false if the variable has no history.
	Samples(name string) (s []Sample, ok bool)
	// Rand returns a number in [0, 1) for rand().
	Rand() float64
}

// SamplePeriodEnv is an Env that says how far apart its samples are.
// GetSamplePeriod returns that period, and the sample percent of a
// look-back window (GetSamplePercent, GetSample with a samplePercent)
// counts one expected sample per period. An Env that does not implement
// it, or returns a period ≤ 0, has DefaultSamplePeriod.
type SamplePeriodEnv interface {
	Env
	SamplePeriod() time.Duration
}

// samplePeriod is env's sample period.
func samplePeriod(env Env) time.Duration {
	if pe, ok := env.(SamplePeriodEnv); ok {
		if d := pe.SamplePeriod(); d > 0 {
			return d
		}
	}
	return DefaultSamplePeriod
}

// Result is the outcome of one evaluation.
type Result struct {
	// TargetDedicatedNodes and TargetLowPriorityNodes are the targets the
	// formula leaves: the full name if assigned, else the old alias if
	// assigned, else the pool's current value (Env.Scalar). Fractions are
	// truncated (2.9 → 2), negatives become 0, values above MaxInt32 are
	// capped.
	TargetDedicatedNodes   int
	TargetLowPriorityNodes int
	// NodeDeallocationOption is requeue unless the formula set another.
	NodeDeallocationOption string
	// Vars holds the final value of every variable the formula assigned,
	// service variables under their canonical names, user variables as
	// written ("$curTime", "maxNumberofVMs").
	Vars map[string]Value
	// Stopped is true if stop() ended the evaluation.
	Stopped bool
}

// Results renders r as Azure's autoScaleRun.results: the targets and the
// deallocation option, then each assigned user variable in ordinal order,
// all as name=value joined by ';':
//
//	$TargetDedicatedNodes=10;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;$curTime=2016-10-13T19:18:47.805Z;$isWeekday=1
func (r *Result) Results() string {
	parts := []string{
		TargetDedicatedNodes + "=" + strconv.Itoa(r.TargetDedicatedNodes),
		TargetLowPriorityNodes + "=" + strconv.Itoa(r.TargetLowPriorityNodes),
		NodeDeallocationOption + "=" + r.NodeDeallocationOption,
	}
	var users []string
	for name := range r.Vars {
		if _, _, service := serviceVar(name); !service {
			users = append(users, name)
		}
	}
	slices.Sort(users)
	for _, name := range users {
		parts = append(parts, name+"="+r.Vars[name].String())
	}
	return strings.Join(parts, ";")
}

// Eval runs the formula's statements in order against env. Later
// assignments override earlier ones; stop() ends the run early and keeps
// what was assigned so far.
//
// Errors are *Error: ErrInsufficientSamples (code InsufficientSampleData)
// when a GetSample call finds too few samples, otherwise ErrEvaluation. On
// an error Eval also returns the Result as it stood when evaluation failed,
// so that callers can render autoScaleRun.results next to the error, as
// Azure does; a failed evaluation must not change the pool, so its targets
// are not to be applied.
func (f *Formula) Eval(env Env) (*Result, error) {
	if env == nil {
		return nil, &Error{Code: CodeEvaluationError, Err: ErrEvaluation, Msg: "no evaluation environment"}
	}
	e := &evaluator{src: f.src, env: env, now: env.Now().UTC(), period: samplePeriod(env), vars: map[string]Value{}}
	var err *Error
	for _, s := range f.stmts {
		if err = e.stmt(s); err != nil {
			break
		}
	}
	stopped := err != nil && err.Err == errStop
	if stopped {
		err = nil
	}
	r := e.result(stopped)
	if err != nil {
		return r, err
	}
	return r, nil
}

// errStop is the sentinel that unwinds evaluation at stop().
var errStop = errors.New("stop")

// evaluator holds the state of one Eval.
type evaluator struct {
	src    string
	env    Env
	now    time.Time
	period time.Duration // the env's sample period
	vars   map[string]Value
}

// fail builds an ErrEvaluation error at node n.
func (e *evaluator) fail(n node, format string, args ...any) *Error {
	return errAt(e.src, n.offset(), CodeEvaluationError, ErrEvaluation, fmt.Sprintf(format, args...))
}

// stmt evaluates one statement and performs its assignment.
func (e *evaluator) stmt(s stmt) *Error {
	v, err := e.eval(s.x)
	if err != nil {
		return err
	}
	if s.target == "" {
		return nil
	}
	if s.class == classSettable {
		if v, err = e.checkSettable(s, v); err != nil {
			return err
		}
	}
	e.vars[s.target] = v
	return nil
}

// checkSettable validates a value assigned to a settable service variable.
func (e *evaluator) checkSettable(s stmt, v Value) (Value, *Error) {
	if s.target == NodeDeallocationOption {
		opt := strings.ToLower(v.str)
		if v.kind != KindString || (opt != Requeue && opt != Terminate && opt != TaskCompletion && opt != RetainedData) {
			return v, e.fail(s.x, "%s must be requeue, terminate, taskcompletion or retaineddata, got %s %s",
				s.target, v.typeName(), v)
		}
		return str(opt), nil
	}
	if v.kind != KindDouble {
		return v, e.fail(s.x, "%s must be a double, got %s", s.target, v.typeName())
	}
	if math.IsNaN(v.num) || math.IsInf(v.num, 0) {
		return v, e.fail(s.x, "%s must be a finite number, got %s", s.target, v)
	}
	return v, nil
}

// result assembles the Result from the variables assigned so far.
func (e *evaluator) result(stopped bool) *Result {
	target := func(full, alias string) int {
		v, ok := e.vars[full]
		if !ok {
			v, ok = e.vars[alias]
		}
		if !ok {
			f, _ := e.env.Scalar(full)
			v = dbl(f)
		}
		return toTarget(v.num)
	}
	r := &Result{
		TargetDedicatedNodes:   target(TargetDedicatedNodes, TargetDedicated),
		TargetLowPriorityNodes: target(TargetLowPriorityNodes, TargetLowPriority),
		NodeDeallocationOption: Requeue,
		Vars:                   e.vars,
		Stopped:                stopped,
	}
	if v, ok := e.vars[NodeDeallocationOption]; ok {
		r.NodeDeallocationOption = v.str
	}
	return r
}

// toTarget truncates a target toward zero, clamped to [0, MaxInt32].
func toTarget(f float64) int {
	switch {
	case math.IsNaN(f) || f <= 0:
		return 0
	case f >= math.MaxInt32:
		return math.MaxInt32
	}
	return int(f)
}

// eval evaluates an expression.
func (e *evaluator) eval(n node) (Value, *Error) {
	switch n := n.(type) {
	case *numLit:
		return dbl(n.v), nil
	case *strLit:
		return str(n.v), nil
	case *varRef:
		return e.variable(n)
	case *unaryExpr:
		return e.unary(n)
	case *binaryExpr:
		return e.binary(n)
	case *condExpr:
		c, err := e.eval(n.c)
		if err != nil {
			return c, err
		}
		if c.kind != KindDouble {
			if c.kind == KindDoubleVec {
				return c, e.fail(n.c, "the condition of ?: must be a double, got %s; %s", c.typeName(), vecHint)
			}
			return c, e.fail(n.c, "the condition of ?: must be a double, got %s", c.typeName())
		}
		if c.truthy() {
			return e.eval(n.a)
		}
		return e.eval(n.b)
	case *fieldExpr:
		x, err := e.eval(n.x)
		if err != nil {
			return x, err
		}
		if x.kind != KindTimestamp {
			return x, e.fail(n, "member %s needs a timestamp, got %s", n.name, x.typeName())
		}
		return dbl(field(x.ts, n.f)), nil
	case *callExpr:
		return e.call(n)
	case *methodExpr:
		return e.method(n)
	}
	return Value{}, e.fail(n, "unknown expression") // unreachable: the parser builds only the nodes above
}

// variable reads a variable or constant.
func (e *evaluator) variable(n *varRef) (Value, *Error) {
	if n.class == classConst {
		return n.konst, nil
	}
	if v, ok := e.vars[n.name]; ok {
		return v, nil
	}
	switch n.class {
	case classSettable:
		switch n.name {
		case NodeDeallocationOption:
			return str(Requeue), nil
		case TargetDedicated:
			return e.variable(&varRef{off: n.off, name: TargetDedicatedNodes, class: classSettable})
		case TargetLowPriority:
			return e.variable(&varRef{off: n.off, name: TargetLowPriorityNodes, class: classSettable})
		}
		f, _ := e.env.Scalar(n.name)
		return dbl(f), nil
	case classReadOnly:
		if f, ok := e.env.Scalar(n.name); ok {
			return dbl(f), nil
		}
		return Value{}, e.fail(n, "%s has no current value; use its sample methods, e.g. %s.GetSample(1)", n.name, n.name)
	}
	return Value{}, e.fail(n, "undefined variable %s", n.name)
}

// unary evaluates -x and !x.
func (e *evaluator) unary(n *unaryExpr) (Value, *Error) {
	x, err := e.eval(n.x)
	if err != nil {
		return x, err
	}
	switch {
	case n.op == tMinus && x.kind == KindDouble:
		return dbl(-x.num), nil
	case n.op == tMinus && x.kind == KindTimeInterval:
		if x.dur == math.MinInt64 {
			return x, e.fail(n, "timeinterval out of range")
		}
		return interval(-x.dur), nil
	case n.op == tNot && x.kind == KindDouble:
		return boolean(!x.truthy()), nil
	}
	return x, e.fail(n, "operator %s does not apply to %s", opText(n.op), x.typeName())
}

func opText(k tokKind) string { return strings.Trim(k.String(), "'") }

// binary evaluates the binary operators with Azure's type rules.
func (e *evaluator) binary(n *binaryExpr) (Value, *Error) {
	x, err := e.eval(n.x)
	if err != nil {
		return x, err
	}
	if n.op == tAnd || n.op == tOr { // short-circuit, like C
		if x.kind != KindDouble {
			return x, e.typeErr(n, x, Value{kind: KindDouble})
		}
		if (n.op == tAnd) != x.truthy() {
			return boolean(x.truthy()), nil
		}
	}
	y, err := e.eval(n.y)
	if err != nil {
		return y, err
	}
	switch n.op {
	case tAnd, tOr:
		if y.kind != KindDouble {
			return y, e.typeErr(n, x, y)
		}
		return boolean(y.truthy()), nil
	case tLT, tLE, tEQ, tGE, tGT, tNE:
		return e.compare(n, x, y)
	}
	return e.arith(n, x, y)
}

func (e *evaluator) typeErr(n *binaryExpr, x, y Value) *Error {
	if (x.kind == KindDoubleVec || y.kind == KindDoubleVec) && n.op != tPlus && n.op != tMinus && n.op != tStar && n.op != tSlash {
		// Azure compares and combines doubles only (reference §4.3); a
		// sample vector needs an aggregate first, as Azure's examples do.
		return e.fail(n, "operator %s does not apply to %s and %s; %s", opText(n.op), x.typeName(), y.typeName(), vecHint)
	}
	return e.fail(n, "operator %s does not apply to %s and %s", opText(n.op), x.typeName(), y.typeName())
}

// vecHint follows errors that use a doubleVec where a double is needed.
const vecHint = "turn the doubleVec into a double first, e.g. max($PendingTasks.GetSample(1)) or val(v, 0)"

// compare evaluates a comparison of two doubles, strings, timestamps or
// timeintervals; the result is 1 or 0.
func (e *evaluator) compare(n *binaryExpr, x, y Value) (Value, *Error) {
	if x.kind != y.kind {
		return x, e.typeErr(n, x, y)
	}
	var c int
	switch x.kind {
	case KindDouble:
		if math.IsNaN(x.num) || math.IsNaN(y.num) { // NaN is unordered: only != holds
			return boolean(n.op == tNE), nil
		}
		c = cmpOrdered(x.num, y.num)
	case KindString:
		c = strings.Compare(x.str, y.str)
	case KindTimestamp:
		c = x.ts.Compare(y.ts)
	case KindTimeInterval:
		c = cmpOrdered(x.dur, y.dur)
	default:
		return x, e.typeErr(n, x, y)
	}
	switch n.op {
	case tLT:
		return boolean(c < 0), nil
	case tLE:
		return boolean(c <= 0), nil
	case tEQ:
		return boolean(c == 0), nil
	case tGE:
		return boolean(c >= 0), nil
	case tGT:
		return boolean(c > 0), nil
	}
	return boolean(c != 0), nil
}

func cmpOrdered[T float64 | time.Duration](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// arith evaluates + - * / over the type pairs Azure allows.
func (e *evaluator) arith(n *binaryExpr, x, y Value) (Value, *Error) {
	op := n.op
	switch {
	case x.kind == KindDouble && y.kind == KindDouble:
		return dbl(applyOp(op, x.num, y.num)), nil
	case x.isNumeric() && y.isNumeric(): // a doubleVec with a double or a doubleVec, elementwise
		if x.kind == KindDoubleVec && y.kind == KindDoubleVec && len(x.vec) != len(y.vec) {
			return x, e.fail(n, "operator %s needs doubleVecs of equal length, got %d and %d", opText(op), len(x.vec), len(y.vec))
		}
		out := make([]float64, max(len(x.vec), len(y.vec)))
		for i := range out {
			out[i] = applyOp(op, at(x, i), at(y, i))
		}
		return vec(out), nil
	case x.kind == KindTimeInterval && y.kind == KindTimeInterval && (op == tPlus || op == tMinus):
		return e.durOp(n, float64(x.dur)+sign(op)*float64(y.dur))
	case x.kind == KindTimeInterval && y.kind == KindDouble && (op == tStar || op == tSlash):
		return e.durOp(n, applyOp(op, float64(x.dur), y.num))
	case x.kind == KindDouble && y.kind == KindTimeInterval && op == tStar:
		return e.durOp(n, x.num*float64(y.dur))
	case x.kind == KindTimestamp && y.kind == KindTimeInterval && (op == tPlus || op == tMinus):
		return e.stampOp(n, x.ts, sign(op)*float64(y.dur))
	case x.kind == KindTimeInterval && y.kind == KindTimestamp && op == tPlus:
		return e.stampOp(n, y.ts, float64(x.dur))
	case x.kind == KindTimestamp && y.kind == KindTimestamp && op == tMinus:
		return e.durOp(n, float64(x.ts.Sub(y.ts)))
	}
	return x, e.typeErr(n, x, y)
}

// at returns element i of a doubleVec, or the double itself.
func at(v Value, i int) float64 {
	if v.kind == KindDouble {
		return v.num
	}
	return v.vec[i]
}

func sign(op tokKind) float64 {
	if op == tMinus {
		return -1
	}
	return 1
}

func applyOp(op tokKind, a, b float64) float64 {
	switch op {
	case tPlus:
		return a + b
	case tMinus:
		return a - b
	case tStar:
		return a * b
	}
	return a / b // IEEE: x/0 is ±Infinity or NaN, as in .NET
}

// durOp turns a float64 nanosecond count into a timeinterval, failing when
// it does not fit.
func (e *evaluator) durOp(n node, ns float64) (Value, *Error) {
	if math.IsNaN(ns) || ns >= math.MaxInt64 || ns < math.MinInt64 {
		return Value{}, e.fail(n, "timeinterval out of range")
	}
	return interval(time.Duration(ns)), nil
}

// stampOp adds ns nanoseconds to t, failing outside years 1 to 9999 (.NET's range).
func (e *evaluator) stampOp(n node, t time.Time, ns float64) (Value, *Error) {
	d, err := e.durOp(n, ns)
	if err != nil {
		return d, err
	}
	r := t.Add(d.dur)
	if r.Year() < 1 || r.Year() > 9999 {
		return Value{}, e.fail(n, "timestamp out of range")
	}
	return stamp(r), nil
}
