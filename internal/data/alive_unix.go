//go:build unix

package data

import (
	"errors"
	"syscall"
)

// processAlive says whether a process with this pid exists (EPERM: it
// does, owned by someone else).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
