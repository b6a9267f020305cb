package formula

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// vecEnv has $PendingTasks = [1,2,3] and $RunningTasks = [4,5,6] (the
// newest 30 s ago), so "v = $PendingTasks.GetSample(3)" gives a doubleVec.
func vecEnv() *fakeEnv {
	env := newEnv()
	env.samples["$PendingTasks"] = history(env.now, 30*time.Second, 1, 2, 3)
	env.samples["$RunningTasks"] = history(env.now, 30*time.Second, 4, 5, 6)
	return env
}

const vecPrelude = "v = $PendingTasks.GetSample(3); w = $RunningTasks.GetSample(3);\n"

// TestOperators covers every operator on every type pair Azure allows.
func TestOperators(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		kind Kind
		want string
	}{
		// double ∘ double
		{"1 + 2", KindDouble, "3"},
		{"1 - 2", KindDouble, "-1"},
		{"3 * 4", KindDouble, "12"},
		{"1 / 4", KindDouble, "0.25"},
		{"1 / 0", KindDouble, "Infinity"},
		{"-1 / 0", KindDouble, "-Infinity"},
		{"0 / 0", KindDouble, "NaN"},
		{"0.1 + 0.2", KindDouble, "0.30000000000000004"},
		// doubleVec ∘ double, double ∘ doubleVec, doubleVec ∘ doubleVec: elementwise
		{"v + 1", KindDoubleVec, "[2,3,4]"},
		{"v - 1", KindDoubleVec, "[0,1,2]"},
		{"v * 2", KindDoubleVec, "[2,4,6]"},
		{"v / 2", KindDoubleVec, "[0.5,1,1.5]"},
		{"10 - v", KindDoubleVec, "[9,8,7]"},
		{"2 * v", KindDoubleVec, "[2,4,6]"},
		{"v + w", KindDoubleVec, "[5,7,9]"},
		{"w - v", KindDoubleVec, "[3,3,3]"},
		{"v * w", KindDoubleVec, "[4,10,18]"},
		{"w / v", KindDoubleVec, "[4,2.5,2]"},
		// timeinterval
		{"TimeInterval_Minute * 2", KindTimeInterval, "00:02:00"},
		{"2 * TimeInterval_Hour", KindTimeInterval, "02:00:00"},
		{"TimeInterval_Hour / 4", KindTimeInterval, "00:15:00"},
		{"TimeInterval_Day + TimeInterval_Hour", KindTimeInterval, "1.01:00:00"},
		{"TimeInterval_Hour - TimeInterval_Minute", KindTimeInterval, "00:59:00"},
		{"-TimeInterval_Second", KindTimeInterval, "-00:00:01"},
		{"TimeInterval_Second * 1.5", KindTimeInterval, "00:00:01.5000000"},
		// timestamp
		{"time() + TimeInterval_Hour", KindTimestamp, "2026-03-04T11:30:00.000Z"},
		{"TimeInterval_Day + time()", KindTimestamp, "2026-03-05T10:30:00.000Z"},
		{"time() - TimeInterval_Minute", KindTimestamp, "2026-03-04T10:29:00.000Z"},
		{"time() + (-6 * TimeInterval_Hour)", KindTimestamp, "2026-03-04T04:30:00.000Z"},
		{`time() - time("2026-03-04T10:00:00Z")`, KindTimeInterval, "00:30:00"},
		{`time("2026-03-04T10:00:00Z") - time()`, KindTimeInterval, "-00:30:00"},
		// unary
		{"-5", KindDouble, "-5"},
		{"!0", KindDouble, "1"},
		{"!5", KindDouble, "0"},
		{"!-0.5", KindDouble, "0"},
		// comparisons: double, string, timestamp, timeinterval
		{"1 < 2", KindDouble, "1"},
		{"2 < 2", KindDouble, "0"},
		{"2 <= 2", KindDouble, "1"},
		{"3 == 3", KindDouble, "1"},
		{"3 != 3", KindDouble, "0"},
		{"2 >= 3", KindDouble, "0"},
		{"3 > 2", KindDouble, "1"},
		{"0 / 0 == 0 / 0", KindDouble, "0"},
		{"0 / 0 != 0 / 0", KindDouble, "1"},
		{`"abc" < "abd"`, KindDouble, "1"},
		{`"a" == "a"`, KindDouble, "1"},
		{`"B" < "a"`, KindDouble, "1"}, // ordinal
		{`time() > time("2026-01-01")`, KindDouble, "1"},
		{`time() == time("2026-03-04T10:30:00Z")`, KindDouble, "1"},
		{"TimeInterval_Hour > TimeInterval_Minute", KindDouble, "1"},
		{"TimeInterval_Minute * 60 == TimeInterval_Hour", KindDouble, "1"},
		// logical
		{"1 && 2", KindDouble, "1"},
		{"1 && 0", KindDouble, "0"},
		{"0 || 0", KindDouble, "0"},
		{"0 || -3", KindDouble, "1"},
		{`0 && "not evaluated"`, KindDouble, "0"},
		{`1 || "not evaluated"`, KindDouble, "1"},
		// ternary
		{"1 ? 2 : 3", KindDouble, "2"},
		{"0 ? 2 : 3", KindDouble, "3"},
		{"0.5 ? v : w", KindDoubleVec, "[1,2,3]"},
		{`0 ? "a" : "b"`, KindString, "b"},
		{"0 ? $undefined : 1", KindDouble, "1"}, // the branch not taken is not evaluated
		// constants
		{"TimeInterval_Zero", KindTimeInterval, "00:00:00"},
		{"TimeInterval_100ns", KindTimeInterval, "00:00:00.0000001"},
		{"TimeInterval_Microsecond", KindTimeInterval, "00:00:00.0000010"},
		{"TimeInterval_Millisecond", KindTimeInterval, "00:00:00.0010000"},
		{"TimeInterval_Second", KindTimeInterval, "00:00:01"},
		{"TimeInterval_Minute", KindTimeInterval, "00:01:00"},
		{"TimeInterval_Hour", KindTimeInterval, "01:00:00"},
		{"TimeInterval_Day", KindTimeInterval, "1.00:00:00"},
		{"TimeInterval_Week", KindTimeInterval, "7.00:00:00"},
		{"TimeInterval_Year", KindTimeInterval, "365.00:00:00"},
		{"timeinterval_minute", KindTimeInterval, "00:01:00"},
		{"taskcompletion", KindString, "taskcompletion"},
		{"Requeue", KindString, "requeue"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			r := run(t, vecEnv(), vecPrelude+"x = "+tt.expr)
			require.Equal(t, tt.kind, r.Vars["x"].Kind())
			require.Equal(t, tt.want, r.Vars["x"].String())
		})
	}
}

// TestTypeErrors covers operator and function applications Azure does not allow.
func TestTypeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		col  int // column of the cause in "x = <expr>"
		msg  string
	}{
		{`1 + "a"`, 7, "operator + does not apply to double and string"},
		{`"a" + "b"`, 9, "operator + does not apply to string and string"},
		{"v < 1", 7, "operator < does not apply to doubleVec and double"},
		{"v == v", 7, "operator == does not apply to doubleVec and doubleVec"},
		// Azure compares doubles only: GetSample's doubleVec needs an
		// aggregate (its docs write max(0, $PendingTasks.GetSample(1))).
		{"$PendingTasks.GetSample(1) > 0", 32, "operator > does not apply to doubleVec and double; turn the doubleVec into a double first, e.g. max($PendingTasks.GetSample(1)) or val(v, 0)"},
		{"1 < TimeInterval_Hour", 7, "double and timeinterval"},
		{`1 < "a"`, 7, "double and string"},
		{"TimeInterval_Hour * TimeInterval_Hour", 23, "timeinterval and timeinterval"},
		{"TimeInterval_Hour / TimeInterval_Hour", 23, "timeinterval and timeinterval"},
		{"TimeInterval_Hour + 1", 23, "timeinterval and double"},
		{"2 / TimeInterval_Hour", 7, "double and timeinterval"},
		{"time() + time()", 12, "timestamp and timestamp"},
		{"time() * 2", 12, "timestamp and double"},
		{"TimeInterval_Hour - time()", 23, "timeinterval and timestamp"},
		{"v + TimeInterval_Hour", 7, "doubleVec and timeinterval"},
		{"v + $RunningTasks.GetSample(2)", 7, "doubleVecs of equal length, got 3 and 2"},
		{`-"a"`, 5, "operator - does not apply to string"},
		{"-v", 5, "operator - does not apply to doubleVec"},
		{"!TimeInterval_Hour", 5, "operator ! does not apply to timeinterval"},
		{"v && 1", 7, "operator && does not apply to doubleVec and double"},
		{"1 && v", 7, "operator && does not apply to double and doubleVec"},
		{"0 || v", 7, "operator || does not apply to double and doubleVec"},
		{`"a" ? 1 : 2`, 5, "the condition of ?: must be a double, got string"},
		{"v ? 1 : 2", 5, "got doubleVec"},
		{"(1).hour", 9, "member hour needs a timestamp, got double"},
		{"TimeInterval_Year * 1e12", 23, "timeinterval out of range"},
		{"TimeInterval_Year * 8000", 23, "timeinterval out of range"},
		{`time("9999-12-31") + TimeInterval_Day`, 24, "timestamp out of range"},
		{`avg("a")`, 9, "avg takes doubles and doubleVecs, got string"},
		{"max(1, time())", 12, "max takes doubles and doubleVecs, got timestamp"},
		{"lg(TimeInterval_Hour)", 8, "lg takes doubles and doubleVecs"},
		{"val(1, v)", 12, "val takes a double index, got doubleVec"},
		{`val("a", 1)`, 9, "val takes a doubleVec, got string"},
		{"percentile(v, v)", 19, "percentile takes a double percentile"},
		{`percentile("a", 1)`, 16, "percentile takes a doubleVec"},
		{"time(1)", 10, "time takes a string, got double"},
		{"$undefined + 1", 5, "undefined variable $undefined"},
		{"undefinedVar", 5, "undefined variable undefinedVar"},
		{"$PendingTasks + 1", 5, "$PendingTasks has no current value"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			_, fe := evalErr(t, vecEnv(), vecPrelude+"x = "+tt.expr)
			require.ErrorIs(t, fe, ErrEvaluation)
			require.Equal(t, CodeEvaluationError, fe.Code)
			require.Equal(t, 2, fe.Line)
			require.Equal(t, tt.col, fe.Col)
			require.Contains(t, fe.Msg, tt.msg)
		})
	}
}

func TestFunctions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want string
	}{
		{"avg(1, 2, 3, 7)", "3.25"},
		{"avg(v, 7)", "3.25"}, // the docs' doubleVecList example: v = [1,2,3]
		{"avg(v)", "2"},
		{"len(v, 7)", "4"},
		{"len(5)", "1"},
		{"len($PendingTasks.GetSample(TimeInterval_Zero))", "0"},
		{"lg(8)", "3"},
		{"lg(v)", "[0,1,1.5849625007211563]"},
		{"lg(2, 4)", "[1,2]"},
		{"ln(1)", "0"},
		{"ln(v)", "[0,0.6931471805599453,1.0986122886681096]"},
		{"log(1000)", "3"},
		{"log(10, 100)", "[1,2]"},
		{"lg(0)", "-Infinity"},
		{"max(v, 7)", "7"},
		{"max(0, v)", "3"},
		{"min(v, -1)", "-1"},
		{"min(w)", "4"},
		{"norm(3, 4)", "5"},
		{"norm(v)", "3.7416573867739413"},
		{"percentile(w, 0)", "4"},
		{"percentile(w, 33)", "4"},  // nearest rank: ceil(0.99) = 1st
		{"percentile(w, 50)", "5"},  // ceil(1.5) = 2nd
		{"percentile(w, 100)", "6"}, // 3rd
		{"percentile(7, 50)", "7"},
		{"rand()", "0.25"},
		{"range(v, 10)", "9"},
		{"range(5)", "0"},
		{"std(2, 4, 4, 4, 5, 5, 7, 9)", "2.138089935299395"}, // sqrt(32/7)
		{"std(5)", "0"},
		{"std(v)", "1"},
		{"sum(v, 4)", "10"},
		{"sum($PendingTasks.GetSample(TimeInterval_Zero))", "0"},
		{"val(w, 0)", "4"},
		{"val(w, 2)", "6"},
		{"val(w, 1.9)", "5"}, // the index is truncated
		{"val(9, 0)", "9"},
		{"ceil(1.2)", "2"},
		{"ceil(-1.2)", "-1"},
		{"floor(1.8)", "1"},
		{"floor(-1.2)", "-2"},
		{"round(2.5)", "2"}, // half to even, like .NET Math.Round
		{"round(3.5)", "4"},
		{"round(-1.6)", "-2"},
		{"round(2.4)", "2"},
		{"ceil(v / 2)", "[1,1,2]"},
		{"floor(0.5, 1.5)", "[0,1]"},
		{`time("")`, "2026-03-04T10:30:00.000Z"},
		{"time()", "2026-03-04T10:30:00.000Z"},
		{`time("Mon, 15 Jun 2009 20:45:30 GMT")`, "2009-06-15T20:45:30.000Z"},
		{`time("Mon, 15 Jun 2009 20:45:30 +0200")`, "2009-06-15T18:45:30.000Z"},
		{`time("2009-06-15T20:45:30.1234567+02:00")`, "2009-06-15T18:45:30.123Z"},
		{`time("2009-06-15T20:45:30Z")`, "2009-06-15T20:45:30.000Z"},
		{`time("2009-06-15T20:45Z")`, "2009-06-15T20:45:00.000Z"},
		{`time("2009-06-15T20:45:30")`, "2009-06-15T20:45:30.000Z"},
		{`time("2009-06-15")`, "2009-06-15T00:00:00.000Z"},
		{`time("2009-06")`, "2009-06-01T00:00:00.000Z"},
		{`time("2009")`, "2009-01-01T00:00:00.000Z"},
		{`time(" 2009-06-15 ")`, "2009-06-15T00:00:00.000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			r := run(t, vecEnv(), vecPrelude+"x = "+tt.expr)
			require.Equal(t, tt.want, r.Vars["x"].String())
		})
	}
}

func TestFunctionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		msg  string
	}{
		{"val(w, 3)", "val index 3 is out of range for a doubleVec of length 3"},
		{"val(w, -1)", "val index -1 is out of range"},
		{"val(w, 0 / 0)", "val index NaN is out of range"},
		{"percentile(w, 101)", "percentile 101 is outside 0 to 100"},
		{"percentile(w, -1)", "outside 0 to 100"},
		{"percentile($PendingTasks.GetSample(TimeInterval_Zero), 50)", "percentile of an empty doubleVec"},
		{"avg($PendingTasks.GetSample(TimeInterval_Zero))", "avg of an empty list"},
		{"min($PendingTasks.GetSample(TimeInterval_Zero))", "min of an empty list"},
		{"max($PendingTasks.GetSample(TimeInterval_Zero))", "max of an empty list"},
		{"range($PendingTasks.GetSample(TimeInterval_Zero))", "range of an empty list"},
		{"std($PendingTasks.GetSample(TimeInterval_Zero))", "std of an empty list"},
		{`time("yesterday")`, `time("yesterday"): not a W3C-DTF or RFC 1123 date`},
		{`time("2009-06-15T20:45:30.123456789Z")`, "not a W3C-DTF"}, // more than 7 fractional digits
		{`time("2009-06-15T20:45:30.Z")`, "not a W3C-DTF"},
		{`time("2009-13-01")`, "not a W3C-DTF"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			_, fe := evalErr(t, vecEnv(), vecPrelude+"x = "+tt.expr)
			require.ErrorIs(t, fe, ErrEvaluation)
			require.Contains(t, fe.Msg, tt.msg)
		})
	}
}

func TestTimestampMembers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		at   string
		want [7]float64 // year, month, day, weekday, hour, minute, second
	}{
		{"2026-03-08T23:59:58Z", [7]float64{2026, 3, 8, 7, 23, 59, 58}}, // Sunday is 7
		{"2026-03-09T00:00:01Z", [7]float64{2026, 3, 9, 1, 0, 0, 1}},    // Monday is 1
		{"2026-03-08T23:30:00-02:00", [7]float64{2026, 3, 9, 1, 1, 30, 0}},
		{"2024-02-29T12:00:00Z", [7]float64{2024, 2, 29, 4, 12, 0, 0}}, // a Thursday
	}
	for _, tt := range tests {
		t.Run(tt.at, func(t *testing.T) {
			t.Parallel()
			r := run(t, newEnv(), `t = time("`+tt.at+`"); a = t.year; b = t.Month; c = t.day; d = t.weekday; e = t.hour; f = t.minute; g = t.SECOND`)
			got := [7]float64{}
			for i, name := range []string{"a", "b", "c", "d", "e", "f", "g"} {
				got[i] = r.Vars[name].Double()
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// cpuEnv has $CPUPercent samples for the last 10 minutes except the newest
// minute: 18 of the 20 expected (90 %), at now-60s … now-570s, valued 1 … 18.
func cpuEnv() *fakeEnv {
	env := newEnv()
	vs := make([]float64, 18)
	for i := range vs {
		vs[i] = float64(i + 1)
	}
	env.samples["$CPUPercent"] = history(env.now, time.Minute, vs...)
	return env
}

func TestSampleMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want string
	}{
		{"$CPUPercent.Count()", "18"},
		{"$CPUPercent.GetSamplePeriod()", "00:00:30"},
		{"$CPUPercent.HistoryBeginTime()", "2026-03-04T10:20:30.000Z"}, // now - 570 s
		{"$CPUPercent.GetSample(1)", "[18]"},
		{"$CPUPercent.GetSample(3)", "[16,17,18]"},
		{"$CPUPercent.GetSample(2.9)", "[17,18]"},
		{"len($CPUPercent.GetSample(TimeInterval_Minute * 10))", "18"},
		{"len($CPUPercent.GetSample(TimeInterval_Minute * 10, 80))", "18"},
		{"len($CPUPercent.GetSample(TimeInterval_Minute * 10, 90))", "18"},
		// the docs' window example: samples between 6 and 1 minutes ago
		{"$CPUPercent.GetSample(1 * TimeInterval_Minute, 6 * TimeInterval_Minute)", "[9,10,11,12,13,14,15,16,17,18]"},
		{"$CPUPercent.GetSample(6 * TimeInterval_Minute, 1 * TimeInterval_Minute)", "[9,10,11,12,13,14,15,16,17,18]"},
		{"$CPUPercent.GetSample(60 * TimeInterval_Second, 120 * TimeInterval_Second, 75)", "[17,18]"},
		{"$CPUPercent.GetSample(TimeInterval_Minute * 2)", "[17,18]"},
		{`$CPUPercent.GetSample(time("2026-03-04T10:28:00Z"))`, "[17,18]"},
		{`$CPUPercent.GetSample(time("2026-03-04T10:28:00Z"), time() - TimeInterval_Minute, 100)`, "[17,18]"},
		{`$CPUPercent.GetSample(TimeInterval_Minute * 2, time())`, "[17,18]"},
		{"$CPUPercent.GetSample(TimeInterval_Zero)", "[]"},
		{"$CPUPercent.GetSamplePercent(TimeInterval_Minute * 10)", "90"},
		{"$CPUPercent.GetSamplePercent(TimeInterval_Minute * 2)", "50"}, // 2 of 4: the newest minute is missing
		{"$CPUPercent.GetSamplePercent(TimeInterval_Minute)", "0"},
		{"$CPUPercent.GetSamplePercent(TimeInterval_Minute, 6 * TimeInterval_Minute)", "100"},
		{"$CPUPercent.GetSamplePercent(TimeInterval_Zero)", "0"},
		{"$CPUPercent.GetSamplePercent(TimeInterval_Hour)", "15"},
		{"$ActiveTasks.Count()", "0"}, // no history at all
		{"$ActiveTasks.GetSamplePercent(TimeInterval_Hour)", "0"},
		{"$cpupercent.getsample(1)", "[18]"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			r := run(t, cpuEnv(), "x = "+tt.expr)
			require.Equal(t, tt.want, r.Vars["x"].String())
		})
	}
}

// TestSamplePeriodFromEnv checks that an Env's own sample period drives
// GetSamplePeriod and the sample-percent math: 10 samples one second apart.
func TestSamplePeriodFromEnv(t *testing.T) {
	t.Parallel()
	env := func(period time.Duration) *fakeEnv {
		e := newEnv()
		e.period = period
		for i := 9; i >= 0; i-- { // at now-9s … now, valued 1 … 10
			e.samples["$PendingTasks"] = append(e.samples["$PendingTasks"],
				Sample{Time: e.now.Add(-time.Duration(i) * time.Second), Value: float64(10 - i)})
		}
		return e
	}
	tests := []struct {
		name   string
		period time.Duration
		expr   string
		want   string
	}{
		{"Period", time.Second, "$PendingTasks.GetSamplePeriod()", "00:00:01"},
		{"PercentFull", time.Second, "$PendingTasks.GetSamplePercent(TimeInterval_Second * 10)", "100"},
		{"PercentHalf", time.Second, "$PendingTasks.GetSamplePercent(TimeInterval_Second * 20)", "50"},
		{"WindowWithPercent", time.Second, "$PendingTasks.GetSample(TimeInterval_Second * 5, 100)", "[6,7,8,9,10]"},
		{"DefaultPeriod", 0, "$PendingTasks.GetSamplePeriod()", "00:00:30"},
		{"DefaultPercent", 0, "$PendingTasks.GetSamplePercent(TimeInterval_Minute)", "100"}, // 10 of 2 expected, capped
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, env(tt.period), "x = "+tt.expr)
			require.Equal(t, tt.want, r.Vars["x"].String())
		})
	}
	_, fe := evalErr(t, env(time.Second), "x = $PendingTasks.GetSample(TimeInterval_Second * 20, 60)")
	require.Equal(t, CodeInsufficientSampleData, fe.Code)
}

func TestSampleMethodErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr     string
		sentinel error
		code     string
		col      int
		msg      string
	}{
		// The docs: 18 of 20 samples present, so asking for 95 % fails.
		{"$CPUPercent.GetSample(TimeInterval_Minute * 10, 95)", ErrInsufficientSamples, CodeInsufficientSampleData, 17,
			"Insufficient data from data set: $CPUPercent wanted 95%, received 90%"},
		{"$CPUPercent.GetSample(TimeInterval_Hour, 70)", ErrInsufficientSamples, CodeInsufficientSampleData, 17,
			"Insufficient data from data set: $CPUPercent wanted 70%, received 15%"},
		{"$ActiveTasks.GetSample(TimeInterval_Minute * 5, 10)", ErrInsufficientSamples, CodeInsufficientSampleData, 18,
			"Insufficient data from data set: $ActiveTasks wanted 10%, received 0%"},
		{"$CPUPercent.GetSample(20)", ErrInsufficientSamples, CodeInsufficientSampleData, 17,
			"Insufficient data from data set: $CPUPercent wanted 20 samples, received 18"},
		{"$ActiveTasks.GetSample(1)", ErrInsufficientSamples, CodeInsufficientSampleData, 18,
			"$ActiveTasks wanted 1 samples, received 0"},
		{"$CPUPercent.GetSample(0)", ErrEvaluation, CodeEvaluationError, 27, "GetSample count must be at least 1, got 0"},
		{"$CPUPercent.GetSample(2, 3)", ErrEvaluation, CodeEvaluationError, 17, "GetSample(count) takes one argument"},
		{`$CPUPercent.GetSample("x")`, ErrEvaluation, CodeEvaluationError, 27, "GetSample takes a count, a timestamp or a timeinterval, got string"},
		{"$CPUPercent.GetSample(TimeInterval_Hour, 50, 3)", ErrEvaluation, CodeEvaluationError, 46, "got double where samplePercent belongs"},
		{`$CPUPercent.GetSample(TimeInterval_Hour, "50")`, ErrEvaluation, CodeEvaluationError, 46, "got string where samplePercent belongs"},
		{"$CPUPercent.GetSamplePercent(1)", ErrEvaluation, CodeEvaluationError, 34, "GetSamplePercent takes a count, a timestamp or a timeinterval, got double"},
		{"$CPUPercent.GetSamplePercent(TimeInterval_Hour, 70)", ErrEvaluation, CodeEvaluationError, 53, "GetSamplePercent takes timestamps or timeintervals, got double"},
		{"$ActiveTasks.HistoryBeginTime()", ErrEvaluation, CodeEvaluationError, 18, "$ActiveTasks has no samples"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			_, fe := evalErr(t, cpuEnv(), "x = "+tt.expr)
			require.ErrorIs(t, fe, tt.sentinel)
			require.Equal(t, tt.code, fe.Code)
			require.Equal(t, 1, fe.Line)
			require.Equal(t, tt.col, fe.Col)
			require.Contains(t, fe.Msg, tt.msg)
		})
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		src       string
		current   [2]float64 // the pool's current targets
		dedicated int
		low       int
		dealloc   string
	}{
		{name: "Assigned", src: "$TargetDedicatedNodes = 3; $TargetLowPriorityNodes = 4", dedicated: 3, low: 4, dealloc: Requeue},
		{name: "Truncated", src: "$TargetDedicatedNodes = 2.9; $TargetLowPriorityNodes = 0.99", dedicated: 2, low: 0, dealloc: Requeue},
		{name: "NegativeIsZero", src: "$TargetDedicatedNodes = -3; $TargetLowPriorityNodes = -0.5", dedicated: 0, low: 0, dealloc: Requeue},
		{name: "Capped", src: "$TargetDedicatedNodes = 1e12", dedicated: math.MaxInt32, dealloc: Requeue},
		{name: "Unassigned", src: "x = 1", current: [2]float64{5, 6}, dedicated: 5, low: 6, dealloc: Requeue},
		{name: "ReadCurrent", src: "$TargetDedicatedNodes = $TargetDedicatedNodes * 2; $TargetLowPriorityNodes = $TargetLowPriority + 1",
			current: [2]float64{5, 6}, dedicated: 10, low: 7, dealloc: Requeue},
		{name: "Alias", src: "$TargetDedicated = 7; $TargetLowPriority = 8", dedicated: 7, low: 8, dealloc: Requeue},
		{name: "FullNameWinsAfter", src: "$TargetDedicated = 7; $TargetDedicatedNodes = 5", dedicated: 5, dealloc: Requeue},
		{name: "FullNameWinsBefore", src: "$TargetDedicatedNodes = 5; $TargetDedicated = 7", dedicated: 5, dealloc: Requeue},
		{name: "AnyCase", src: "$targetdedicatednodes = 4; $NODEDEALLOCATIONOPTION = Terminate", dedicated: 4, dealloc: Terminate},
		{name: "DeallocationString", src: `$NodeDeallocationOption = "RetainedData"`, dealloc: RetainedData},
		{name: "DeallocationKeyword", src: "$NodeDeallocationOption = taskcompletion", dealloc: TaskCompletion},
		{name: "LastAssignmentWins", src: "$NodeDeallocationOption = terminate; $NodeDeallocationOption = requeue", dealloc: Requeue},
		{name: "ReadDeallocationDefault", src: "x = $NodeDeallocationOption; $NodeDeallocationOption = x", dealloc: Requeue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv()
			env.scalars[TargetDedicatedNodes] = tt.current[0]
			env.scalars[TargetLowPriorityNodes] = tt.current[1]
			r := run(t, env, tt.src)
			require.Equal(t, tt.dedicated, r.TargetDedicatedNodes)
			require.Equal(t, tt.low, r.TargetLowPriorityNodes)
			require.Equal(t, tt.dealloc, r.NodeDeallocationOption)
			require.False(t, r.Stopped)
		})
	}
}

func TestSettableErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src string
		msg string
	}{
		{`$TargetDedicatedNodes = "3"`, "$TargetDedicatedNodes must be a double, got string"},
		{"$TargetLowPriorityNodes = $CPUPercent.GetSample(1)", "$TargetLowPriorityNodes must be a double, got doubleVec"},
		{"$TargetDedicatedNodes = 1 / 0", "$TargetDedicatedNodes must be a finite number, got Infinity"},
		{"$TargetDedicated = 0 / 0", "$TargetDedicated must be a finite number, got NaN"},
		{`$NodeDeallocationOption = "drain"`, "$NodeDeallocationOption must be requeue, terminate, taskcompletion or retaineddata, got string drain"},
		{"$NodeDeallocationOption = 1", "got double 1"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			_, fe := evalErr(t, cpuEnv(), tt.src)
			require.ErrorIs(t, fe, ErrEvaluation)
			require.Contains(t, fe.Msg, tt.msg)
		})
	}
}

func TestReadOnlyScalars(t *testing.T) {
	t.Parallel()
	env := newEnv()
	env.scalars["$CurrentDedicatedNodes"] = 4
	env.scalars["$TaskSlotsPerNode"] = 2
	r := run(t, env, "a = $CurrentDedicatedNodes * $TaskSlotsPerNode; b = $CurrentDedicated; c = $currentdedicatednodes")
	require.Equal(t, 8.0, r.Vars["a"].Double())
	require.Equal(t, 4.0, r.Vars["b"].Double())
	require.Equal(t, 4.0, r.Vars["c"].Double())
}

func TestStop(t *testing.T) {
	t.Parallel()
	env := newEnv()
	r := run(t, env, "a = 1; $TargetDedicatedNodes = 3; stop(); b = 2; $TargetDedicatedNodes = 5")
	require.True(t, r.Stopped)
	require.Equal(t, 3, r.TargetDedicatedNodes)
	require.Contains(t, r.Vars, "a")
	require.NotContains(t, r.Vars, "b")
	require.Equal(t, "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;a=1", r.Results())

	// stop() inside an expression ends the run before the assignment.
	r = run(t, env, "$TargetDedicatedNodes = 3; x = 1 ? stop() : 2; $TargetDedicatedNodes = 5")
	require.True(t, r.Stopped)
	require.Equal(t, 3, r.TargetDedicatedNodes)
	require.NotContains(t, r.Vars, "x")

	// Statements after stop() are not evaluated, so their errors do not count.
	r = run(t, env, "stop(); x = undefinedVar; y = $CPUPercent.GetSample(5)")
	require.True(t, r.Stopped)

	// A stop() not reached does not stop.
	r = run(t, env, "x = 0 ? stop() : 2; y = 3")
	require.False(t, r.Stopped)
	require.Contains(t, r.Vars, "y")
}

func TestResults(t *testing.T) {
	t.Parallel()
	env := newEnv()
	env.scalars[TargetDedicatedNodes] = 2
	tests := []struct {
		name string
		src  string
		want string
	}{
		{name: "Defaults", src: "$TargetDedicatedNodes = 3",
			want: "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"},
		{name: "UserVariablesOrdinal", src: "zeta = 1; Alpha = 2; $beta = 3; alpha = 4; _u = 5",
			want: "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;$beta=3;Alpha=2;_u=5;alpha=4;zeta=1"},
		{name: "AliasesNotListed", src: "$TargetDedicated = 4; $TargetLowPriority = 1.5",
			want: "$TargetDedicatedNodes=4;$TargetLowPriorityNodes=1;$NodeDeallocationOption=requeue"},
		{name: "AllTypes", src: `d = 2.5; v = 2 * lg(1, 2); s = "hi"; t = time(); i = TimeInterval_Minute * 90`,
			want: "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;d=2.5;i=01:30:00;s=hi;t=2026-03-04T10:30:00.000Z;v=[0,2]"},
		{name: "TargetsAsInts", src: "$TargetDedicatedNodes = 2.9; $NodeDeallocationOption = terminate; n = 2.9",
			want: "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=terminate;n=2.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, run(t, env, tt.src).Results())
		})
	}
}

// TestEvalErrorKeepsResult: like Azure, a failed run still reports results
// (the pool's current targets), next to the error.
func TestEvalErrorKeepsResult(t *testing.T) {
	t.Parallel()
	env := newEnv()
	env.scalars[TargetDedicatedNodes] = 2
	r, fe := evalErr(t, env, "something_useless")
	require.Equal(t, "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue", r.Results())
	require.Equal(t, "Line 1, Col 1: undefined variable something_useless", fe.Error())

	r, fe = evalErr(t, env, "a = 1;\n$TargetDedicatedNodes = 4;\nb = $CPUPercent.GetSample(TimeInterval_Minute * 5, 50)")
	require.ErrorIs(t, fe, ErrInsufficientSamples)
	require.Equal(t, "Line 3, Col 17: Insufficient data from data set: $CPUPercent wanted 50%, received 0%", fe.Error())
	require.Equal(t, 4, r.TargetDedicatedNodes)
	require.Contains(t, r.Vars, "a")
}

func TestEvalNilEnv(t *testing.T) {
	t.Parallel()
	f, err := Parse("a = 1")
	require.NoError(t, err)
	r, err := f.Eval(nil)
	require.Nil(t, r)
	require.ErrorIs(t, err, ErrEvaluation)
}

// TestEvalIsPure: evaluating twice, or concurrently, gives the same result.
func TestEvalIsPure(t *testing.T) {
	t.Parallel()
	f, err := Parse(vecPrelude + "x = avg(v, w); $TargetDedicatedNodes = x")
	require.NoError(t, err)
	done := make(chan string, 4)
	for range 4 {
		go func() {
			r, err := f.Eval(vecEnv())
			if err != nil {
				done <- err.Error()
				return
			}
			done <- r.Results()
		}()
	}
	for range 4 {
		require.Equal(t, "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;v=[1,2,3];w=[4,5,6];x=3.5", <-done)
	}
}

func TestValueAccessors(t *testing.T) {
	t.Parallel()
	r := run(t, vecEnv(), vecPrelude+`d = 1.5; s = "x"; ts = time(); i = TimeInterval_Second`)
	require.Equal(t, 1.5, r.Vars["d"].Double())
	require.Equal(t, []float64{1, 2, 3}, r.Vars["v"].Vec())
	require.Nil(t, r.Vars["d"].Vec())
	require.Equal(t, "x", r.Vars["s"].Str())
	require.Equal(t, testNow(), r.Vars["ts"].Time())
	require.Equal(t, time.Second, r.Vars["i"].Interval())
	vs := r.Vars["v"].Vec()
	vs[0] = 99 // a copy
	require.Equal(t, []float64{1, 2, 3}, r.Vars["v"].Vec())
	require.Equal(t, "none", Value{}.Kind().String())
	require.Equal(t, "", Value{}.String())
}

func TestFormatDouble(t *testing.T) {
	t.Parallel()
	three := 3.0 // a variable, so that three * 1.1 is computed in float64
	tests := []struct {
		f    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {-2.5, "-2.5"}, {0.1, "0.1"}, {1.0 / 3, "0.3333333333333333"},
		{three * 1.1, "3.3000000000000003"}, {123456789012345, "123456789012345"}, {1e15, "1E+15"},
		{1.5e300, "1.5E+300"}, {0.0001, "0.0001"}, {0.00001, "1E-05"}, {-1.25e-7, "-1.25E-07"},
		{1000000, "1000000"}, {math.NaN(), "NaN"}, {math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, formatDouble(tt.f), "%v", tt.f)
	}
}

func TestFormatInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "00:00:00"}, {time.Second, "00:00:01"}, {90 * time.Minute, "01:30:00"},
		{26*time.Hour + 3*time.Minute + 4*time.Second + 500*time.Millisecond, "1.02:03:04.5000000"},
		{-time.Minute, "-00:01:00"}, {-25 * time.Hour, "-1.01:00:00"}, {150 * time.Nanosecond, "00:00:00.0000001"},
		{math.MinInt64, "-106751.23:47:16.8547758"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, formatInterval(tt.d), "%v", tt.d)
	}
}
