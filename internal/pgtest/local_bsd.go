//go:build unix && !linux

package pgtest

import "syscall"

// serverProcAttr runs the server as owner (nil: this process's user). Only Linux can have
// the kernel stop it when the test binary dies; elsewhere a killed test binary leaves it
// running (pg_ctl -D $TMPDIR/cubesync-pgtest-*/data stop).
func serverProcAttr(owner *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: owner}
}
