//go:build !linux

package natchtest

import "syscall"

// dieWithParent: only Linux can signal a child when its parent dies.
func dieWithParent(syscall.Signal) *syscall.SysProcAttr { return nil }
