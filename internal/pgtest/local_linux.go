package pgtest

import "syscall"

// serverProcAttr runs the server as owner (nil: this process's user) and has the kernel end
// it when the test binary dies without stopping it: SIGQUIT is Postgres's immediate shutdown,
// which also ends its backends.
func serverProcAttr(owner *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: owner, Pdeathsig: syscall.SIGQUIT}
}
