//go:build !linux

package compat

import "syscall"

// childAttr puts the child in its own process group when newGroup is set.
// Only Linux can also signal a child when the test process dies.
func childAttr(_ syscall.Signal, newGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: newGroup}
}
