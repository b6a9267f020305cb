package batch

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Limits of task dependencies. Azure bounds the serialized id list at about
// 64,000 characters; natch also bounds how many task ids the ranges cover,
// because each covered id is a dependency it tracks.
const (
	MaxDependencyListChars = 64000
	MaxDependencyRanges    = 1000
	MaxDependencyRangeIDs  = 100000
)

// validDependsOn checks a task's dependsOn against its job.
func validDependsOn(t *Task, job *Job) error {
	d := t.DependsOn
	if d == nil || (len(d.TaskIDs) == 0 && len(d.TaskIDRanges) == 0) {
		t.DependsOn = nil
		return nil
	}
	if job.UsesTaskDependencies == nil || !*job.UsesTaskDependencies {
		return (&Error{Status: 400, Code: "TaskDependenciesNotSpecifiedOnJob",
			Message: "The job does not allow task dependencies (usesTaskDependencies is false)."}).With("PropertyName", "dependsOn")
	}
	if b, _ := json.Marshal(d.TaskIDs); len(b) > MaxDependencyListChars {
		return (&Error{Status: 400, Code: "TaskDependencyListTooLong",
			Message: "The list of task ids this task depends on is too long."}).With("PropertyName", "dependsOn.taskIds")
	}
	if len(d.TaskIDRanges) > MaxDependencyRanges {
		return (&Error{Status: 400, Code: "TaskDependencyRangesTooLong",
			Message: "The task has too many task id ranges (at most " + strconv.Itoa(MaxDependencyRanges) + ")."}).With("PropertyName", "dependsOn.taskIdRanges")
	}
	self := Key(t.ID)
	for i, id := range d.TaskIDs {
		p := "dependsOn.taskIds[" + strconv.Itoa(i) + "]"
		if err := ValidID(p, id); err != nil {
			return err
		}
		if Key(id) == self {
			return InvalidProperty(p, "a task cannot depend on itself")
		}
	}
	selfN, selfIsN := IntTaskID(t.ID)
	covered := 0
	for i, r := range d.TaskIDRanges {
		p := "dependsOn.taskIdRanges[" + strconv.Itoa(i) + "]"
		if r.Start < 0 || r.End < r.Start {
			return InvalidProperty(p, "start must be at least 0 and end at least start")
		}
		covered += r.End - r.Start + 1
		if covered > MaxDependencyRangeIDs {
			return InvalidProperty("dependsOn.taskIdRanges", "the ranges may cover at most "+strconv.Itoa(MaxDependencyRangeIDs)+" task ids")
		}
		if selfIsN && selfN >= r.Start && selfN <= r.End {
			return InvalidProperty(p, "a task cannot depend on itself")
		}
	}
	return nil
}

// IntTaskID reports whether a task id is an integer id as dependency ranges
// see it: decimal digits only, leading zeros ignored.
func IntTaskID(id string) (int, bool) {
	if id == "" {
		return 0, false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return 0, false
		}
	}
	digits := strings.TrimLeft(id, "0")
	if len(digits) > 18 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		n = n*10 + int(digits[i]-'0')
	}
	return n, true
}

// validExitConditions checks a task's exitConditions and canonicalises
// their enums. A jobAction is only allowed when the job acts on it.
func validExitConditions(ec *ExitConditions, job *Job) error {
	if ec == nil {
		return nil
	}
	check := func(p string, o *ExitOptions) error {
		if o == nil {
			return nil
		}
		if o.JobAction != "" {
			v, err := enum(p+".jobAction", o.JobAction, JobActionNone, JobActionDisable, JobActionTerminate)
			if err != nil {
				return err
			}
			if !EqualFold(job.OnTaskFailure, OnTaskFailurePerformExitAction) {
				return InvalidProperty(p+".jobAction", "a jobAction requires the job's onTaskFailure to be performexitoptionsjobaction")
			}
			o.JobAction = v
		}
		if o.DependencyAction != "" {
			v, err := enum(p+".dependencyAction", o.DependencyAction, DependencySatisfy, DependencyBlock)
			if err != nil {
				return err
			}
			o.DependencyAction = v
		}
		return nil
	}
	for i := range ec.ExitCodes {
		if err := check("exitConditions.exitCodes["+strconv.Itoa(i)+"].exitOptions", &ec.ExitCodes[i].ExitOptions); err != nil {
			return err
		}
	}
	for i := range ec.ExitCodeRanges {
		p := "exitConditions.exitCodeRanges[" + strconv.Itoa(i) + "]"
		if ec.ExitCodeRanges[i].End < ec.ExitCodeRanges[i].Start {
			return InvalidProperty(p, "end must be at least start")
		}
		if err := check(p+".exitOptions", &ec.ExitCodeRanges[i].ExitOptions); err != nil {
			return err
		}
	}
	if err := check("exitConditions.preProcessingError", ec.PreProcessingError); err != nil {
		return err
	}
	if err := check("exitConditions.fileUploadError", ec.FileUploadError); err != nil {
		return err
	}
	return check("exitConditions.default", ec.Default)
}

// IsPreProcessingError reports whether a failure code is one of the
// failures before the command ran (resource files, application packages,
// launching the process).
func IsPreProcessingError(code string) bool {
	switch {
	case strings.HasPrefix(code, "Blob"), strings.HasPrefix(code, "Resource"),
		strings.HasPrefix(code, "ApplicationPackage"), strings.HasPrefix(code, "CommandLaunch"),
		code == "CommandProgramNotFound", code == "DiskFull":
		return true
	}
	return false
}

// IsFileUploadError reports whether a failure code is an output file upload failure.
func IsFileUploadError(code string) bool { return strings.HasPrefix(code, "FileUpload") }

// ExitOptionsFor is what a task's end means, by Azure's rules: a listed
// exit code (or range) wins; otherwise pre-processing and upload errors use
// their own options when given; everything else that is not a clean exit
// uses default. Unset fields take Azure's defaults: for exit code 0
// (without an upload error) jobAction none and dependencyAction satisfy,
// for anything else terminate and block. ec may be nil.
func ExitOptionsFor(ec *ExitConditions, exitCode *int, failure *TaskFailureInformation) ExitOptions {
	clean := exitCode != nil && *exitCode == 0 && failure == nil
	fill := func(o *ExitOptions) ExitOptions {
		var r ExitOptions
		if o != nil {
			r = *o
		}
		if r.JobAction == "" {
			r.JobAction = JobActionTerminate
			if clean {
				r.JobAction = JobActionNone
			}
		}
		if r.DependencyAction == "" {
			r.DependencyAction = DependencyBlock
			if clean {
				r.DependencyAction = DependencySatisfy
			}
		}
		return r
	}
	if ec == nil {
		return fill(nil)
	}
	if exitCode != nil {
		for _, m := range ec.ExitCodes {
			if m.Code == *exitCode {
				return fill(&m.ExitOptions)
			}
		}
		for _, m := range ec.ExitCodeRanges {
			if *exitCode >= m.Start && *exitCode <= m.End {
				return fill(&m.ExitOptions)
			}
		}
	}
	switch {
	case clean:
		return fill(nil)
	case failure != nil && IsFileUploadError(failure.Code) && ec.FileUploadError != nil:
		return fill(ec.FileUploadError)
	case failure != nil && exitCode == nil && IsPreProcessingError(failure.Code) && ec.PreProcessingError != nil:
		return fill(ec.PreProcessingError)
	}
	return fill(ec.Default)
}
