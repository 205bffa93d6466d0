package emulator

import (
	"net/http"
	"slices"
	"testing"

	"github.com/cubesync/cubesync/sink"
)

func TestPushWorkflow(t *testing.T) {
	b := setup(t, Options{})
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds,
		colTable("orders", sink.Upsert, "order_id", "store", "amount", "qty"),
		colTable("stores", sink.Replace, "store", "name", "area"))
	b.c.mustPut(ds, sid, "orders", 1, `[[1,2],["north","south"],[10.5,20.25],[9007199254740993,2]]`)
	b.c.mustPut(ds, sid, "stores", 1, `[["north"],["North Store"],[12345678901234567890.123456789]]`)

	if got := rows(t, b.srv, ds, "orders"); len(got) != 0 {
		t.Fatalf("before publish, orders = %v, want no rows", got)
	}
	if open := b.srv.OpenSessions(); len(open) != 1 || open[0].SessionID != sid {
		t.Fatalf("OpenSessions = %v, want the one session %s", open, sid)
	}
	b.c.mustPublish(ds, sid)

	want := []string{`[1,"north",10.5,9007199254740993]`, `[2,"south",20.25,2]`}
	if got := rows(t, b.srv, ds, "orders"); !slices.Equal(got, want) {
		t.Errorf("orders = %v, want %v", got, want)
	}
	want = []string{`["north","North Store",12345678901234567890.123456789]`}
	if got := rows(t, b.srv, ds, "stores"); !slices.Equal(got, want) {
		t.Errorf("stores = %v, want %v", got, want)
	}
	if open := b.srv.OpenSessions(); len(open) != 0 {
		t.Errorf("after publish OpenSessions = %v, want none", open)
	}
	b.c.must(http.StatusOK, "DELETE", "/api/datasets/"+ds+"/uploadSessions/"+sid, nil)
	b.c.must(http.StatusNoContent, "POST", "/api/auth/logout", nil)
	resp := b.c.send("POST", "/api/auth/logout", nil, nil)
	wantError(t, resp, http.StatusUnauthorized, "ERR009")
}
