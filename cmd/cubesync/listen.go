package main

import (
	"net/http"
	"time"
)

// httpLimits bound what one client can hold of an HTTP server cubesync runs: how long it
// may take to send a request's header and body, how long a handler may take to answer,
// how long a kept-alive connection may sit idle, and how large a header and a body may be.
type httpLimits struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
	maxBodyBytes                  int64 // 0: the handler bounds its bodies itself
}

// serveLimits are serve's: its pages, /metrics and the admin API take no body to speak of
// and answer at once.
func serveLimits() httpLimits {
	return httpLimits{readHeader: 10 * time.Second, read: 30 * time.Second, write: time.Minute,
		idle: 2 * time.Minute, maxHeaderBytes: 64 << 10, maxBodyBytes: 1 << 20}
}

// emulatorLimits are the emulator's (standalone and embedded). A chunk may be as large as
// the emulator's body limit (1 GiB; it refuses larger ones itself) and must arrive within
// read; write counts from the end of the header, so it covers reading the body too.
func emulatorLimits() httpLimits {
	return httpLimits{readHeader: 30 * time.Second, read: 15 * time.Minute, write: 15 * time.Minute,
		idle: 2 * time.Minute, maxHeaderBytes: 64 << 10}
}

// newHTTPServer returns a server for h with limits l.
func newHTTPServer(h http.Handler, l httpLimits) *http.Server {
	if l.maxBodyBytes > 0 {
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, l.maxBodyBytes)
			next.ServeHTTP(w, r)
		})
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.readHeader,
		ReadTimeout:       l.read,
		WriteTimeout:      l.write,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    l.maxHeaderBytes,
	}
}
