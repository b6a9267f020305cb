package batch

import "strconv"

// validJobManager checks a job's job manager task and fills Azure's
// defaults (killJobOnCompletion and runExclusive true). Its task fields are
// checked as a task's when the job is added.
func validJobManager(j *Job) error {
	jm := j.JobManagerTask
	if jm == nil {
		return nil
	}
	if err := ValidID("jobManagerTask.id", jm.ID); err != nil {
		return err
	}
	if jm.CommandLine == "" {
		return MissingProperty("jobManagerTask.commandLine")
	}
	if jm.KillJobOnCompletion == nil {
		jm.KillJobOnCompletion = Bool(true)
	}
	if jm.RunExclusive == nil {
		jm.RunExclusive = Bool(true)
	}
	if jm.AllowLowPriorityNode == nil {
		jm.AllowLowPriorityNode = Bool(true)
	}
	return validTokenSettings("jobManagerTask.authenticationTokenSettings", jm.AuthenticationTokenSettings)
}

// validTokenSettings checks authenticationTokenSettings: "job" is the one
// access scope.
func validTokenSettings(property string, a *AuthenticationTokenSettings) error {
	if a == nil {
		return nil
	}
	for i, v := range a.Access {
		c, err := enum(property+".access["+strconv.Itoa(i)+"]", v, AccessJob)
		if err != nil {
			return err
		}
		a.Access[i] = c
	}
	return nil
}

// Task is the job manager as a task of its job. slotsPerNode is the pool's
// taskSlotsPerNode: a runExclusive job manager takes every slot of its node.
func (jm *JobManagerTask) Task(slotsPerNode int) *Task {
	t := &Task{ID: jm.ID, DisplayName: jm.DisplayName, CommandLine: jm.CommandLine,
		ContainerSettings: jm.ContainerSettings, ResourceFiles: jm.ResourceFiles, OutputFiles: jm.OutputFiles,
		EnvironmentSettings: jm.EnvironmentSettings, RequiredSlots: jm.RequiredSlots, UserIdentity: jm.UserIdentity,
		ApplicationPackageReferences: jm.ApplicationPackageReferences, AuthenticationTokenSettings: jm.AuthenticationTokenSettings}
	if jm.Constraints != nil {
		c := *jm.Constraints
		t.Constraints = &c
	}
	if jm.RunExclusive != nil && *jm.RunExclusive && slotsPerNode > 0 {
		t.RequiredSlots = Int(slotsPerNode)
	}
	return t
}

// WantsJobToken reports whether a task asked for a token with job access.
func (t *Task) WantsJobToken() bool {
	if t.AuthenticationTokenSettings == nil {
		return false
	}
	for _, a := range t.AuthenticationTokenSettings.Access {
		if EqualFold(a, AccessJob) {
			return true
		}
	}
	return false
}
