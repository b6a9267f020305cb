package natchtest

import "syscall"

// dieWithParent makes a child get sig when the test process dies without
// its cleanups (killed, or SIGPIPE from `go test | head`).
func dieWithParent(sig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: sig}
}
