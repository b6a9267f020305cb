//go:build !linux

package worker

// setParentDeathSignal does nothing where there is no parent death signal.
func setParentDeathSignal() {}
