package emulator

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

// TestDialects checks that each dialect option answers as the servers it stands for do.
func TestDialects(t *testing.T) {
	t.Run("big integers coded as integer with precision 8", func(t *testing.T) {
		for _, on := range []bool{false, true} {
			b := setup(t, Options{BigIntegerAsInteger: on})
			id := b.c.createDataset(salesModel("Sales"))
			resp := b.c.must(http.StatusOK, "GET", "/api/datasets/"+id+"?fields=tables&fields=columns", nil)
			var def struct {
				Result struct {
					Definition struct {
						AvailableObjects struct {
							Columns []struct {
								ColumnName string
								DataType   int
								Precision  int
							}
						}
					}
				}
			}
			if err := json.Unmarshal(resp.body, &def); err != nil {
				t.Fatal(err)
			}
			codes := map[string][2]int{}
			for _, c := range def.Result.Definition.AvailableObjects.Columns {
				codes[c.ColumnName] = [2]int{c.DataType, c.Precision}
			}
			wantQty := [2]int{35, 8}
			if on {
				wantQty = [2]int{1, 8}
			}
			if codes["qty"] != wantQty || codes["order_id"] != [2]int{1, 4} {
				t.Errorf("BigIntegerAsInteger=%v: qty (BIGINTEGER) is %v, order_id (INTEGER) %v; want %v and [1 4]", on, codes["qty"], codes["order_id"], wantQty)
			}
		}
	})

	t.Run("in-progress statuses before 1, as strings", func(t *testing.T) {
		b := setup(t, Options{PublishStatuses: []int{4, 8, 9, 10}, StatusAsString: true})
		id := b.c.createDataset(salesModel("Sales"))
		sid := b.c.openSession(id, colTable("stores", "replace", "store", "name", "area"))
		b.c.mustPut(id, sid, "stores", 1, `[["s1"],["Berlin"],[1.5]]`)
		path := "/api/datasets/" + id + "/uploadSessions/" + sid
		b.c.must(http.StatusOK, "POST", path+"/publish", nil)
		var got []any
		for range 5 {
			resp := b.c.must(http.StatusOK, "GET", path+"/publishStatus", nil)
			var st struct{ Status any }
			if err := json.Unmarshal(resp.body, &st); err != nil {
				t.Fatal(err)
			}
			got = append(got, st.Status)
			if len(got) == 3 {
				if r := rows(t, b.srv, id, "stores"); len(r) != 0 {
					t.Errorf("rows visible while the publish still reports in progress: %v", r)
				}
			}
		}
		for i := 0; i < 100 && got[4] != "1"; i++ { // the publish applies right after status 10
			resp := b.c.must(http.StatusOK, "GET", path+"/publishStatus", nil)
			var st struct{ Status any }
			_ = json.Unmarshal(resp.body, &st)
			got[4] = st.Status
		}
		if want := []any{"4", "8", "9", "10", "1"}; !slices.Equal(got, want) {
			t.Errorf("statuses = %v, want %v", got, want)
		}
		if r := rows(t, b.srv, id, "stores"); len(r) != 1 {
			t.Errorf("stores rows after status 1 = %v, want 1 row", r)
		}
	})

	t.Run("cancel while statuses are pending", func(t *testing.T) {
		b := setup(t, Options{PublishStatuses: []int{4, 8}})
		id := b.c.createDataset(salesModel("Sales"))
		sid := b.c.openSession(id, colTable("stores", "replace", "store", "name", "area"))
		b.c.mustPut(id, sid, "stores", 1, `[["s1"],["Berlin"],[1.5]]`)
		path := "/api/datasets/" + id + "/uploadSessions/" + sid
		b.c.must(http.StatusOK, "POST", path+"/publish", nil)
		b.c.must(http.StatusOK, "DELETE", path, nil)
		b.c.openSession(id, colTable("stores", "replace", "store", "name", "area")) // the dataset is free again
		if r := rows(t, b.srv, id, "stores"); len(r) != 0 {
			t.Errorf("a cancelled publish applied rows: %v", r)
		}
	})

	t.Run("error codes with four digits", func(t *testing.T) {
		b := setup(t, Options{ErrorCodeDigits: 4})
		wantError(t, b.c.send("GET", "/api/datasets/0123456789ABCDEF0123456789ABCDEF?fields=tables", nil, nil), http.StatusNotFound, "ERR0004")
		wantError(t, b.c.send("GET", "/api/sessions", nil, map[string]string{"X-MSTR-AuthToken": "nope"}), http.StatusUnauthorized, "ERR0009")
	})

	t.Run("options refused", func(t *testing.T) {
		for _, o := range []Options{{PublishStatuses: []int{4, 1}}, {PublishStatuses: []int{3}}, {ErrorCodeDigits: 9}} {
			if _, err := New(o); err == nil {
				t.Errorf("New(%+v) accepted it", o)
			}
		}
	})
}
