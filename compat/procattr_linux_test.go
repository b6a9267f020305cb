package compat

import "syscall"

// childAttr makes a child get sig when the test process dies without its
// cleanups (killed, or SIGPIPE from `go test | head`), so that natch up and
// node do not outlive it. newGroup also puts the child in its own process
// group, so that all its descendants can be killed at once.
func childAttr(sig syscall.Signal, newGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: sig, Setpgid: newGroup}
}
