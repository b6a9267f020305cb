package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxTasksPerCollection is the most tasks one addtaskcollection may carry.
const MaxTasksPerCollection = 100

// MaxCollectionBytes is the largest addtaskcollection body Azure accepts.
const MaxCollectionBytes = 1 << 20

// Decode unmarshals a JSON request body into v. A syntax error or a value of
// the wrong type gives InvalidRequestBody naming the property.
func Decode(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return InvalidBody("", "the request body is empty")
	}
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return InvalidBody(te.Field, fmt.Sprintf("expected %s, got %s", te.Type, te.Value)).withErr(err)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return InvalidBody("", fmt.Sprintf("malformed JSON at offset %d: %v", se.Offset, err)).withErr(err)
	}
	// Errors from our own UnmarshalJSON methods (durations, timestamps).
	return InvalidBody(fieldOf(err), err.Error()).withErr(err)
}

func fieldOf(err error) string {
	// encoding/json reports "json: cannot unmarshal ... into Go struct field X.y of type"
	s := err.Error()
	if i := strings.Index(s, "Go struct field "); i >= 0 {
		f := s[i+len("Go struct field "):]
		if j := strings.IndexByte(f, ' '); j >= 0 {
			f = f[:j]
		}
		if k := strings.IndexByte(f, '.'); k >= 0 {
			f = f[k+1:]
		}
		return f
	}
	return ""
}

func (e *Error) withErr(err error) *Error { e.Err = err; return e }

// ValidID checks an Azure id: 1–64 letters, digits, hyphens or underscores.
func ValidID(property, id string) error {
	if id == "" {
		return MissingProperty(property)
	}
	if len(id) > 64 {
		return InvalidProperty(property, "the id may not be longer than 64 characters")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return InvalidProperty(property, "the id may contain only letters, digits, hyphens and underscores")
		}
	}
	return nil
}

// Key returns the storage key of an id: ids are case-insensitive, so the
// lower-cased id, with the ":" of a job schedule's job ids
// ("<scheduleId>:job-<n>") as "=". Valid ids are valid KV key and NATS
// subject tokens.
func Key(id string) string { return strings.ToLower(strings.ReplaceAll(id, ":", "=")) }

// EqualFold reports whether two enum values are equal, ignoring case, as
// Azure compares enums.
func EqualFold(a, b string) bool { return strings.EqualFold(a, b) }

// enum checks that v (case-insensitively) is one of allowed and returns the
// canonical spelling.
func enum(property, v string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a, nil
		}
	}
	return "", InvalidProperty(property, fmt.Sprintf("must be one of %s", strings.Join(allowed, ", ")))
}

func nonNegative(property string, v *int) error {
	if v != nil && *v < 0 {
		return InvalidProperty(property, "must not be negative")
	}
	return nil
}

func retryCount(property string, v *int) error {
	if v != nil && *v < -1 {
		return InvalidProperty(property, "must be -1 (unlimited) or a non-negative count")
	}
	return nil
}

func positiveDuration(property string, d *Duration) error {
	if d != nil && *d <= 0 {
		return InvalidProperty(property, "must be a positive duration")
	}
	return nil
}

func validEnv(property string, env []NameValue) error {
	for i, e := range env {
		if e.Name == "" {
			return MissingProperty(property + "[" + strconv.Itoa(i) + "].name")
		}
		if strings.ContainsAny(e.Name, "=\x00") {
			return InvalidProperty(property+"["+strconv.Itoa(i)+"].name", "an environment variable name may not contain '=' or NUL")
		}
	}
	return nil
}

// ValidatePoolAdd checks a pool to add and fills Azure's defaults.
func ValidatePoolAdd(p *Pool) error {
	if err := ValidID("id", p.ID); err != nil {
		return err
	}
	if p.VMSize == "" {
		return MissingProperty("vmSize")
	}
	if len(p.DisplayName) > 1024 {
		return InvalidProperty("displayName", "may not be longer than 1024 characters")
	}
	if err := nonNegative("targetDedicatedNodes", p.TargetDedicatedNodes); err != nil {
		return err
	}
	if err := nonNegative("targetLowPriorityNodes", p.TargetLowPriorityNodes); err != nil {
		return err
	}
	autoscale := p.EnableAutoScale != nil && *p.EnableAutoScale
	if autoscale {
		if p.TargetDedicatedNodes != nil || p.TargetLowPriorityNodes != nil {
			return (&Error{Status: 400, Code: "InvalidPropertyValue",
				Message: "targetDedicatedNodes and targetLowPriorityNodes may not be set when enableAutoScale is true."}).With("PropertyName", "targetDedicatedNodes")
		}
		if p.AutoScaleFormula == "" {
			return MissingProperty("autoScaleFormula")
		}
	} else if p.AutoScaleFormula != "" {
		return InvalidProperty("autoScaleFormula", "may only be set when enableAutoScale is true")
	}
	if p.ResizeTimeout != nil && *p.ResizeTimeout < Duration(5*60e9) {
		return InvalidProperty("resizeTimeout", "must be at least 5 minutes")
	}
	if p.TaskSlotsPerNode != nil && (*p.TaskSlotsPerNode < 1 || *p.TaskSlotsPerNode > 256) {
		return InvalidProperty("taskSlotsPerNode", "must be between 1 and 256")
	}
	if p.TaskSchedulingPolicy != nil {
		v, err := enum("taskSchedulingPolicy.nodeFillType", p.TaskSchedulingPolicy.NodeFillType, "spread", "pack")
		if err != nil {
			return err
		}
		p.TaskSchedulingPolicy.NodeFillType = v
	}
	if err := validStartTask("startTask", p.StartTask); err != nil {
		return err
	}
	if err := validMetadata(p.Metadata); err != nil {
		return err
	}
	// Defaults, as Azure reports them.
	if p.ResizeTimeout == nil {
		p.ResizeTimeout = D(15 * 60e9)
	}
	if p.TaskSlotsPerNode == nil {
		p.TaskSlotsPerNode = Int(1)
	}
	if p.TaskSchedulingPolicy == nil {
		p.TaskSchedulingPolicy = &TaskSchedulingPolicy{NodeFillType: "spread"}
	}
	if p.EnableAutoScale == nil {
		p.EnableAutoScale = Bool(false)
	}
	if p.EnableInterNodeCommunication == nil {
		p.EnableInterNodeCommunication = Bool(false)
	}
	if !autoscale {
		if p.TargetDedicatedNodes == nil {
			p.TargetDedicatedNodes = Int(0)
		}
		if p.TargetLowPriorityNodes == nil {
			p.TargetLowPriorityNodes = Int(0)
		}
	}
	return nil
}

func validMetadata(md []NameValue) error {
	for i, m := range md {
		if m.Name == "" {
			return (&Error{Status: 400, Code: "EmptyMetadataKey", Message: "The metadata key may not be empty."}).
				With("PropertyName", "metadata["+strconv.Itoa(i)+"].name")
		}
	}
	return nil
}

// ValidateResize checks a pool resize body.
func ValidateResize(r *PoolResize) error {
	if err := nonNegative("targetDedicatedNodes", r.TargetDedicatedNodes); err != nil {
		return err
	}
	if err := nonNegative("targetLowPriorityNodes", r.TargetLowPriorityNodes); err != nil {
		return err
	}
	if r.ResizeTimeout != nil && *r.ResizeTimeout < Duration(5*60e9) {
		return InvalidProperty("resizeTimeout", "must be at least 5 minutes")
	}
	if r.NodeDeallocationOption != "" {
		v, err := enum("nodeDeallocationOption", r.NodeDeallocationOption, "requeue", "terminate", "taskcompletion", "retaineddata")
		if err != nil {
			return err
		}
		r.NodeDeallocationOption = v
	}
	return nil
}

// ValidateJobAdd checks a job to add and fills Azure's defaults.
func ValidateJobAdd(j *Job) error {
	if err := ValidID("id", j.ID); err != nil {
		return err
	}
	return validateJob(j, false)
}

// validateJob checks a job, its id aside; inSchedule allows what only a
// job schedule's job specification may say.
func validateJob(j *Job, inSchedule bool) error {
	if err := validPoolInfo("poolInfo", j.PoolInfo, inSchedule); err != nil {
		return err
	}
	if err := validJobManager(j); err != nil {
		return err
	}
	if err := validJobPrepRelease(j); err != nil {
		return err
	}
	if j.Priority != nil && (*j.Priority < -1000 || *j.Priority > 1000) {
		return InvalidProperty("priority", "must be between -1000 and 1000")
	}
	if j.MaxParallelTasks != nil && (*j.MaxParallelTasks == 0 || *j.MaxParallelTasks < -1) {
		return InvalidProperty("maxParallelTasks", "must be -1 (unlimited) or a positive number")
	}
	if j.Constraints != nil {
		if err := retryCount("constraints.maxTaskRetryCount", j.Constraints.MaxTaskRetryCount); err != nil {
			return err
		}
		if err := positiveDuration("constraints.maxWallClockTime", j.Constraints.MaxWallClockTime); err != nil {
			return err
		}
	}
	if j.OnAllTasksComplete != "" {
		v, err := enum("onAllTasksComplete", j.OnAllTasksComplete, OnAllTasksNoAction, OnAllTasksTerminate)
		if err != nil {
			return err
		}
		j.OnAllTasksComplete = v
	}
	if j.OnTaskFailure != "" {
		v, err := enum("onTaskFailure", j.OnTaskFailure, "noaction", "performexitoptionsjobaction")
		if err != nil {
			return err
		}
		j.OnTaskFailure = v
	}
	if err := validEnv("commonEnvironmentSettings", j.CommonEnvironmentSettings); err != nil {
		return err
	}
	if err := validMetadata(j.Metadata); err != nil {
		return err
	}
	if j.Priority == nil {
		j.Priority = Int(0)
	}
	if j.MaxParallelTasks == nil {
		j.MaxParallelTasks = Int(-1)
	}
	if j.AllowTaskPreemption == nil {
		j.AllowTaskPreemption = Bool(false)
	}
	if j.UsesTaskDependencies == nil {
		j.UsesTaskDependencies = Bool(false)
	}
	if j.OnAllTasksComplete == "" {
		j.OnAllTasksComplete = OnAllTasksNoAction
	}
	if j.OnTaskFailure == "" {
		j.OnTaskFailure = "noaction"
	}
	if j.Constraints == nil {
		j.Constraints = &JobConstraints{}
	}
	if j.Constraints.MaxWallClockTime == nil {
		inf := Infinite
		j.Constraints.MaxWallClockTime = &inf
	}
	if j.Constraints.MaxTaskRetryCount == nil {
		j.Constraints.MaxTaskRetryCount = Int(0)
	}
	return nil
}

// ValidateTaskAdd checks a task to add and fills Azure's defaults; job gives
// the inherited constraints.
func ValidateTaskAdd(t *Task, job *Job) error {
	if err := ValidID("id", t.ID); err != nil {
		return err
	}
	if err := validTaskNotPrepRelease(t, job); err != nil {
		return err
	}
	if strings.TrimSpace(t.CommandLine) == "" {
		return MissingProperty("commandLine")
	}
	if len(t.DisplayName) > 1024 {
		return InvalidProperty("displayName", "may not be longer than 1024 characters")
	}
	if t.RequiredSlots != nil && *t.RequiredSlots < 1 {
		return InvalidProperty("requiredSlots", "must be at least 1")
	}
	if err := validEnv("environmentSettings", t.EnvironmentSettings); err != nil {
		return err
	}
	if err := validTaskConstraints(t.Constraints); err != nil {
		return err
	}
	if err := validTokenSettings("authenticationTokenSettings", t.AuthenticationTokenSettings); err != nil {
		return err
	}
	if err := validDependsOn(t, job); err != nil {
		return err
	}
	if err := validExitConditions(t.ExitConditions, job); err != nil {
		return err
	}
	if err := validMultiInstance(t); err != nil { // multi-instance tasks (multiinstance.go)
		return err
	}
	for i, rf := range t.ResourceFiles {
		if err := ValidateResourceFile("resourceFiles["+strconv.Itoa(i)+"]", rf); err != nil {
			return err
		}
	}
	for i, of := range t.OutputFiles {
		p := "outputFiles[" + strconv.Itoa(i) + "]"
		if of.FilePattern == "" {
			return MissingProperty(p + ".filePattern")
		}
		if _, err := ParseOutputPattern(of.FilePattern); err != nil {
			return InvalidProperty(p+".filePattern", err.Error())
		}
		if of.Destination.Container == nil || of.Destination.Container.ContainerURL == "" {
			return MissingProperty(p + ".destination.container.containerUrl")
		}
		v, err := enum(p+".uploadOptions.uploadCondition", of.UploadOptions.UploadCondition, "tasksuccess", "taskfailure", "taskcompletion")
		if err != nil {
			return err
		}
		t.OutputFiles[i].UploadOptions.UploadCondition = v
	}
	// Defaults.
	t.Constraints = taskConstraintDefaults(t.Constraints, job)
	if t.RequiredSlots == nil {
		t.RequiredSlots = Int(1)
	}
	return nil
}

// ValidateResourceFile checks one resource file: exactly one source, and a
// relative filePath that stays inside the task directory.
func ValidateResourceFile(property string, rf ResourceFile) error {
	n := 0
	for _, s := range []string{rf.AutoStorageContainerName, rf.StorageContainerURL, rf.HTTPURL} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return InvalidProperty(property, "exactly one of autoStorageContainerName, storageContainerUrl and httpUrl must be set")
	}
	if rf.HTTPURL != "" && rf.FilePath == "" {
		return MissingProperty(property + ".filePath")
	}
	if rf.HTTPURL != "" && rf.BlobPrefix != "" {
		return InvalidProperty(property+".blobPrefix", "blobPrefix may only be used with a container source")
	}
	if rf.FilePath != "" && !SafeRelPath(rf.FilePath) {
		return InvalidProperty(property+".filePath", "the path must be relative and stay inside the task working directory")
	}
	if rf.FileMode != "" {
		if _, err := strconv.ParseUint(rf.FileMode, 8, 32); err != nil {
			return InvalidProperty(property+".fileMode", "must be an octal file mode such as 0644")
		}
	}
	return nil
}

// SafeRelPath reports whether p is a relative path that never climbs above
// its starting directory.
func SafeRelPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || strings.ContainsRune(p, 0) {
		return false
	}
	depth := 0
	for _, seg := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		switch seg {
		case ".", "":
		case "..":
			depth--
			if depth < 0 {
				return false
			}
		default:
			depth++
		}
	}
	return true
}

// Int returns a pointer to v.
func Int(v int) *int { return &v }

// Bool returns a pointer to v.
func Bool(v bool) *bool { return &v }

// IntOr returns *p, or def when p is nil.
func IntOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// ValidateTaskConstraints checks the constraints of a task update and
// returns them with Azure's defaults filled in, as task add does: nil gives
// the default constraints. job gives the inherited maxTaskRetryCount.
func ValidateTaskConstraints(c *TaskConstraints, job *Job) (*TaskConstraints, error) {
	if err := validTaskConstraints(c); err != nil {
		return nil, err
	}
	return taskConstraintDefaults(c, job), nil
}

func validTaskConstraints(c *TaskConstraints) error {
	if c == nil {
		return nil
	}
	if err := retryCount("constraints.maxTaskRetryCount", c.MaxTaskRetryCount); err != nil {
		return err
	}
	if err := positiveDuration("constraints.maxWallClockTime", c.MaxWallClockTime); err != nil {
		return err
	}
	if c.RetentionTime != nil && *c.RetentionTime < 0 {
		return InvalidProperty("constraints.retentionTime", "must not be negative")
	}
	return nil
}

func taskConstraintDefaults(c *TaskConstraints, job *Job) *TaskConstraints {
	if c == nil {
		c = &TaskConstraints{}
	}
	if c.MaxWallClockTime == nil {
		inf := Infinite
		c.MaxWallClockTime = &inf
	}
	if c.RetentionTime == nil {
		c.RetentionTime = D(7 * 24 * 3600e9)
	}
	if c.MaxTaskRetryCount == nil {
		n := 0
		if job != nil && job.Constraints != nil && job.Constraints.MaxTaskRetryCount != nil {
			n = *job.Constraints.MaxTaskRetryCount
		}
		c.MaxTaskRetryCount = Int(n)
	}
	return c
}

// ValidateJobDisable checks a job disable body and normalises disableTasks.
func ValidateJobDisable(d *JobDisable) error {
	if d.DisableTasks == "" {
		return MissingProperty("disableTasks")
	}
	v, err := enum("disableTasks", d.DisableTasks, DisableRequeue, DisableTerminate, DisableWait)
	if err != nil {
		return err
	}
	d.DisableTasks = v
	return nil
}

// ValidatePoolPatch checks the properties of a pool patch or
// updateProperties body and normalises targetNodeCommunicationMode.
func ValidatePoolPatch(p *PoolPatch) error {
	if err := validStartTask("startTask", p.StartTask); err != nil {
		return err
	}
	if err := validMetadata(p.Metadata); err != nil {
		return err
	}
	if p.TargetNodeCommunicationMode != "" {
		v, err := enum("targetNodeCommunicationMode", p.TargetNodeCommunicationMode, "default", "classic", "simplified")
		if err != nil {
			return err
		}
		p.TargetNodeCommunicationMode = v
	}
	return nil
}
