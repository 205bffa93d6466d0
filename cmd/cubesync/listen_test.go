package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// pipeListener hands the server the ends of in-memory connections, so that a test in a
// synctest bubble controls time on both sides.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { close(l.done); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestHTTPServersLetNoClientHoldAConnection: serve's and the emulator's HTTP servers close a
// connection a client leaves idle after a request, one whose header never ends, and one
// whose body never ends, each within its limit.
func TestHTTPServersLetNoClientHoldAConnection(t *testing.T) {
	readsBody := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})
	for _, srv := range []struct {
		name   string
		limits httpLimits
	}{
		{"serve", serveLimits()},
		{"emulator", emulatorLimits()},
	} {
		for _, tc := range []struct {
			name  string
			send  string        // what the client sends, then it sends nothing more
			reply bool          // a response comes first, then the connection sits idle
			limit time.Duration // the connection must be closed within this of the send
		}{
			{"idle after a request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", true, srv.limits.idle},
			{"header never ends", "GET / HTTP/1.1\r\nHost: x\r\n", false, srv.limits.readHeader},
			{"body never ends", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789", false, srv.limits.read},
		} {
			t.Run(srv.name+"/"+tc.name, func(t *testing.T) {
				if tc.limit <= 0 {
					t.Fatalf("%s has no limit for this (%v): a client can hold the connection for ever", srv.name, tc.limit)
				}
				synctest.Test(t, func(t *testing.T) {
					ln := newPipeListener()
					hs := newHTTPServer(readsBody, srv.limits)
					served := make(chan error, 1)
					go func() { served <- hs.Serve(ln) }()
					client, server := net.Pipe()
					ln.conns <- server

					if _, err := io.WriteString(client, tc.send); err != nil {
						t.Fatalf("send: %v", err)
					}
					start := time.Now()
					br := bufio.NewReader(client)
					if tc.reply {
						resp, err := http.ReadResponse(br, nil)
						if err != nil {
							t.Fatalf("read the response: %v", err)
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						start = time.Now()
					}
					// Whatever the server still says (a 408 or 400), it then closes the connection.
					_, err := io.Copy(io.Discard, br)
					if err != nil && !errors.Is(err, io.ErrClosedPipe) {
						t.Errorf("reading until the server closes: %v", err)
					}
					if held := time.Since(start); held > tc.limit+time.Second {
						t.Errorf("the connection stayed open %v, want it closed within %v", held, tc.limit)
					}
					client.Close()
					hs.Close()
					<-served
				})
			})
		}
	}
}

// TestServeBoundsRequestBodies: a handler of serve reading a request body stops at serve's
// body limit rather than holding whatever a client sends.
func TestServeBoundsRequestBodies(t *testing.T) {
	var read int64
	hs := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		read = n
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		}
	}), serveLimits())
	rec := httptest.NewRecorder()
	hs.Handler.ServeHTTP(rec, httptest.NewRequest("POST", "/api/jobs/x/run", strings.NewReader(strings.Repeat("x", 8<<20))))
	if rec.Code != http.StatusRequestEntityTooLarge || read > serveLimits().maxBodyBytes {
		t.Errorf("an 8 MiB body: status %d after reading %d bytes, want 413 after at most %d", rec.Code, read, serveLimits().maxBodyBytes)
	}
}
