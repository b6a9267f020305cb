package formula

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// fuzzSeeds are the documented examples plus fragments that exercise every
// operator, function, method and error path.
func fuzzSeeds() []string {
	return append(docExamples(),
		"a = 1 + 2 * 3 - 4 / 5; b = !a || a && -a; c = a ? b : a < b == 1",
		`t = time("2009-06-15T20:45:30.1234567+02:00"); x = t.weekday + t.Year; i = time() - t; j = i > TimeInterval_Week`,
		`s = "a\"b" < "c"; r = rand(); stop(); z = 1`,
		"v = $CPUPercent.GetSample(5); w = v * 2 + v; p = percentile(w, 90); q = val(v, 1); l = lg(v, 8)",
		"a = avg(1); b = len(1); c = ln(1); d = log(1); e = max(1); f = min(1); g = norm(1); h = range(1); i = std(1, 2); j = sum(1)",
		"a = ceil(1.5); b = floor(1.5); c = round(1.5, 2.5)",
		"a = $CPUPercent.GetSamplePercent(TimeInterval_Minute, TimeInterval_Hour) + $CPUPercent.Count(); b = $CPUPercent.GetSamplePeriod(); c = $CPUPercent.HistoryBeginTime()",
		"$TargetDedicated = 1; $TargetLowPriority = 2; $NodeDeallocationOption = retaineddata",
		"a = ", "a = (1", "a = 1;;", "$CPUPercent = 1", "a = b.GetSample(1)", `a = "x`, "a = 1 % 2",
		strings.Repeat("a=1;", MaxStatements+1),
	)
}

// fuzzEnv is a small, fixed environment for fuzzed formulas.
func fuzzEnv() *fakeEnv {
	env := newEnv()
	env.scalars[TargetDedicatedNodes] = 2
	env.scalars["$CurrentDedicatedNodes"] = 3
	env.samples["$CPUPercent"] = history(env.now, time.Minute, 1, 2, 3, 4, 5, 6, 7, 8)
	env.samples["$PendingTasks"] = history(env.now, 0, 3, 1, 4, 1, 5, 9, 2, 6)
	return env
}

// FuzzParse checks that Parse never panics, that every error is a
// positioned *Error with one of the parse sentinels, and that whatever
// parses also evaluates without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		form, err := Parse(src)
		if err != nil {
			checkError(t, src, err, ErrSyntax, ErrTooLong, ErrTooManyStatements)
			if len(src) > MaxLength && !errors.Is(err, ErrTooLong) {
				t.Fatalf("a %d-byte formula gave %v, want ErrTooLong", len(src), err)
			}
			return
		}
		if n := form.Len(); n < 1 || n > MaxStatements {
			t.Fatalf("parsed %d statements", n)
		}
		if _, err := form.Eval(fuzzEnv()); err != nil {
			checkError(t, src, err, ErrEvaluation, ErrInsufficientSamples)
		}
	})
}

// FuzzEval checks the Result invariants for formulas that evaluate.
func FuzzEval(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		form, err := Parse(src)
		if err != nil {
			return
		}
		r, err := form.Eval(fuzzEnv())
		if err != nil {
			checkError(t, src, err, ErrEvaluation, ErrInsufficientSamples)
			if r == nil {
				t.Fatal("no result next to an evaluation error")
			}
		}
		if r.TargetDedicatedNodes < 0 || r.TargetLowPriorityNodes < 0 {
			t.Fatalf("negative targets %d, %d", r.TargetDedicatedNodes, r.TargetLowPriorityNodes)
		}
		switch r.NodeDeallocationOption {
		case Requeue, Terminate, TaskCompletion, RetainedData:
		default:
			t.Fatalf("deallocation option %q", r.NodeDeallocationOption)
		}
		if !strings.HasPrefix(r.Results(), TargetDedicatedNodes+"=") {
			t.Fatalf("results %q", r.Results())
		}
	})
}

// checkError requires err to be an *Error matching one of sentinels, with
// a position inside src unless it is ErrTooLong.
func checkError(t *testing.T, src string, err error, sentinels ...error) {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	matched := false
	for _, s := range sentinels {
		matched = matched || errors.Is(err, s)
	}
	if !matched || fe.Code == "" || fe.Msg == "" {
		t.Fatalf("unexpected error %#v", fe)
	}
	if errors.Is(err, ErrTooLong) {
		return
	}
	lines := strings.Count(src, "\n") + 1
	if fe.Line < 1 || fe.Line > lines || fe.Col < 1 {
		t.Fatalf("error %v is outside the %d-line formula", err, lines)
	}
}
