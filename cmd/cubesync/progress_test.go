package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cubesync/cubesync/jobs"
)

// Off a terminal, a running table logs a progress line on every interval, and stops when
// the table is done.
func TestProgressPlainLogsPeriodically(t *testing.T) {
	var out syncBuffer
	p := newProgress(&out, "auto") // a buffer is not a terminal: plain
	if p.mode != "plain" {
		t.Fatalf("mode = %q off a terminal, want plain", p.mode)
	}
	p.interval = 20 * time.Millisecond
	p.setLogger(slog.New(slog.NewTextHandler(&out, nil)))
	tp := p.Table("sales", "orders")
	tp.Add(1000, 50_000)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "msg=progress") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := out.String()
	for _, want := range []string{"msg=progress", "job=sales", "table=orders", "rows=1000", "bytes=50000"} {
		if !strings.Contains(got, want) {
			t.Fatalf("progress output lacks %q:\n%s", want, got)
		}
	}
	tp.Done(jobs.TableResult{}, nil)
	time.Sleep(30 * time.Millisecond) // let a tick that raced with Done finish
	n := strings.Count(out.String(), "msg=progress")
	time.Sleep(100 * time.Millisecond)
	if m := strings.Count(out.String(), "msg=progress"); m != n {
		t.Errorf("progress lines went on after the table was done: %d, then %d", n, m)
	}
}
