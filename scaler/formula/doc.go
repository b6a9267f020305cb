// Package formula parses and evaluates Azure Batch autoscale formulas.
//
// A formula is up to MaxStatements statements separated by ';', at most
// MaxLength bytes, with whitespace, line breaks and // comments allowed:
//
//	// Scale on pending tasks, at most 25 nodes.
//	percent = $PendingTasks.GetSamplePercent(180 * TimeInterval_Second);
//	pending = percent < 70 ? 1 : avg($PendingTasks.GetSample(180 * TimeInterval_Second));
//	$TargetDedicatedNodes = min(25, pending);
//	$NodeDeallocationOption = taskcompletion;
//
// Parse turns the text into a *Formula and reports syntax errors with their
// line and column; Formula.Eval runs it against an Env (the pool's metrics,
// current values, clock and random source) and returns the Result: the
// targets, the deallocation option and every variable assigned, rendered
// by Result.Results exactly as Azure's autoScaleRun.results. Both are pure:
// the package reads no clock and keeps no state.
//
// # Vocabulary
//
//   - service variable: a name starting with '$' defined by the service.
//     $TargetDedicatedNodes, $TargetLowPriorityNodes, $NodeDeallocationOption
//     (and the aliases $TargetDedicated, $TargetLowPriority) are settable;
//     the metrics ($CPUPercent, $PendingTasks, $CurrentDedicatedNodes, …)
//     are read-only and have sample methods (GetSample, GetSamplePercent,
//     GetSamplePeriod, Count, HistoryBeginTime).
//   - user variable: any other name, with or without '$'.
//   - types: double (also the boolean type: nonzero is true), doubleVec,
//     string, timestamp (members year, month, day, weekday with 1 = Monday,
//     hour, minute, second, in UTC) and timeinterval (TimeInterval_Zero,
//     _100ns, _Microsecond, _Millisecond, _Second, _Minute, _Hour, _Day,
//     _Week, _Year). doubleVecList is the argument list of the aggregate
//     functions, flattened to one doubleVec.
//   - operators, loosest first: ?: (right associative), ||, &&, the
//     comparisons < <= == >= > !=, + -, * /, unary - !, then member access.
//
// Names of service variables, functions, methods, members and constants
// are matched case-insensitively; user variables are case-sensitive.
//
// # Errors
//
// Every error is an *Error with the Azure code, the line and column of
// the cause and a message; errors.Is tells ErrTooLong,
// ErrTooManyStatements, ErrSyntax, ErrInsufficientSamples and
// ErrEvaluation apart.
package formula
