package worker

import "syscall"

// setParentDeathSignal asks the kernel for SIGTERM when the parent dies.
func setParentDeathSignal() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
}
