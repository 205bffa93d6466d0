package emulator

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/testutil"
)

// TestPythonClientSequence replays the calls mstrio-py 11.6.7 makes around SuperCube.create()
// and update() (push-api.md, "What the official Python client sends"), in its request shapes:
// form login, lower-case dataTypes, no orientation, "index" as a string, ROW data, publish
// status polling.
func TestPythonClientSequence(t *testing.T) {
	b := setup(t, Options{PublishDelay: 30 * time.Millisecond})
	c := newClient(t, b.url)
	resp := c.must(http.StatusNoContent, "POST", "/api/auth/login", url.Values{"loginMode": {"1"}, "applicationType": {"76"}, "username": {"analyst"}, "password": {"pw"}})
	c.token = resp.header.Get("X-MSTR-AuthToken")

	var sess struct{ Timeout, WorkingSet, MaxSearch int }
	mustJSON(t, c.must(http.StatusOK, "GET", "/api/sessions", nil), &sess)
	if sess.Timeout != 1800 || sess.WorkingSet != 10 || sess.MaxSearch != 3 {
		t.Errorf("GET /api/sessions = %+v, want timeout 1800, workingSet 10, maxSearch 3", sess)
	}
	var status struct{ WebVersion, IServerVersion string }
	mustJSON(t, c.must(http.StatusOK, "GET", "/api/status", nil), &status)
	if status.WebVersion == "" || status.IServerVersion == "" {
		t.Errorf("GET /api/status = %+v, want both versions", status)
	}
	// Below 11.5.0600 the client logs in again with applicationType 35.
	resp = c.must(http.StatusNoContent, "POST", "/api/auth/login", url.Values{"loginMode": {"1"}, "applicationType": {"35"}, "username": {"analyst"}, "password": {"pw"}})
	c.token = resp.header.Get("X-MSTR-AuthToken")
	c.must(http.StatusOK, "GET", "/api/sessions", nil)

	var projects []struct{ ID, Name string }
	mustJSON(t, c.must(http.StatusOK, "GET", "/api/projects", nil), &projects)
	if len(projects) != 1 || projects[0].ID != testProject {
		t.Errorf("GET /api/projects = %+v, want the project of X-MSTR-ProjectID", projects)
	}
	var project struct {
		ID   string
		Type int
	}
	mustJSON(t, c.must(http.StatusOK, "GET", "/api/objects/"+testProject+"?type=32&comments=True", nil), &project)
	if project.ID != testProject || project.Type != 32 {
		t.Errorf("project lookup = %+v, want id %s type 32", project, testProject)
	}

	model := `{"name":"py_cube","description":"","folderId":"",
	 "tables":[{"name":"sales","columnHeaders":[{"name":"id","dataType":"integer"},{"name":"region","dataType":"STRING"},{"name":"day","dataType":"DATE"},{"name":"amount","dataType":"DOUBLE"}]}],
	 "attributes":[{"name":"region","attributeForms":[{"category":"ID","expressions":[{"tableName":"sales","columnName":"region"}]}]},
	               {"name":"day","attributeForms":[{"category":"ID","expressions":[{"tableName":"sales","columnName":"day"}]}]}],
	 "metrics":[{"name":"id","dataType":"number","expressions":[{"tableName":"sales","columnName":"id"}]},
	            {"name":"amount","dataType":"number","expressions":[{"tableName":"sales","columnName":"amount"}]}]}`
	var created struct{ ID, Name string }
	mustJSON(t, c.must(http.StatusOK, "POST", "/api/datasets/models", model), &created)
	ds := created.ID

	push := func(policy, data string) {
		t.Helper()
		var open struct{ UploadSessionID string }
		mustJSON(t, c.must(http.StatusOK, "POST", "/api/datasets/"+ds+"/uploadSessions",
			`{"tables":[{"name":"sales","updatePolicy":"`+policy+`","columnHeaders":["id","region","day","amount"]}]}`), &open)
		sid := open.UploadSessionID
		body := `{"tableName":"sales","index":"1","data":"` + base64.StdEncoding.EncodeToString([]byte(data)) + `"}`
		c.must(http.StatusOK, "PUT", "/api/datasets/"+ds+"/uploadSessions/"+sid, body)
		c.must(http.StatusOK, "POST", "/api/datasets/"+ds+"/uploadSessions/"+sid+"/publish", nil)
		sawInProgress := false
		finished := testutil.Eventually(2*time.Second, func() bool {
			var st struct {
				Status  any
				Message string
			}
			mustJSON(t, c.must(http.StatusOK, "GET", "/api/datasets/"+ds+"/uploadSessions/"+sid+"/publishStatus", nil), &st)
			n, ok := st.Status.(float64)
			if !ok {
				t.Fatalf("publishStatus status = %#v, want a JSON number", st.Status)
			}
			if n == 1 {
				if st.Message != "result ready" {
					t.Errorf("publishStatus message %q, want \"result ready\"", st.Message)
				}
				return true
			}
			if n != 6 {
				t.Fatalf("publishStatus status = %v (%s), want 6 then 1", n, st.Message)
			}
			sawInProgress = true
			return false
		})
		if !finished {
			t.Fatal("publish with a 30ms delay did not finish within 2s")
		}
		if !sawInProgress {
			t.Error("publish with a 30ms delay was never seen in progress (status 6)")
		}
	}
	push("replace", `[[1,"north","2024-01-01",10.5],[2,"south","2024-01-02",20.25]]`)

	var cube struct {
		ID         string
		Definition struct {
			AvailableObjects struct {
				Attributes []struct{ Name string }
				Metrics    []struct{ Name string }
			}
		}
	}
	mustJSON(t, c.must(http.StatusOK, "GET", "/api/v2/cubes/"+ds, nil), &cube)
	var names []string
	for _, a := range cube.Definition.AvailableObjects.Attributes {
		names = append(names, a.Name)
	}
	for _, m := range cube.Definition.AvailableObjects.Metrics {
		names = append(names, m.Name)
	}
	if want := []string{"region", "day", "id", "amount", "Row Count - sales"}; !slices.Equal(names, want) {
		t.Errorf("cube objects = %v, want %v", names, want)
	}
	c.must(http.StatusOK, "GET", "/api/datasets/"+ds+"?fields=tables&fields=columns", nil)

	push("upsert", `[[3,"north","2024-01-01",11],[4,"east","2024-01-03",5]]`) // update(): no DELETE
	c.must(http.StatusNoContent, "POST", "/api/auth/logout", nil)

	want := []string{`[3,"north","2024-01-01",11]`, `[2,"south","2024-01-02",20.25]`, `[4,"east","2024-01-03",5]`}
	if got := rows(t, b.srv, ds, "sales"); !slices.Equal(got, want) {
		t.Errorf("sales = %v, want %v", got, want)
	}
	if open := b.srv.OpenSessions(); len(open) != 0 {
		t.Errorf("OpenSessions = %v, want none after published sessions", open)
	}
}

func mustJSON(t testing.TB, resp response, v any) {
	t.Helper()
	if err := json.Unmarshal(resp.body, v); err != nil {
		t.Fatalf("answer is not the JSON expected: %v: %s", err, resp.body)
	}
}

func TestDefinition(t *testing.T) {
	b := setup(t, Options{})
	ds := b.c.createDataset(typesModel())
	type def struct {
		ID, Name string
		Result   struct {
			Definition struct {
				AvailableObjects struct {
					Tables []struct {
						ID, Name string
						Type     int
					}
					Columns []struct {
						TableID, TableName, ColumnID, ColumnName string
						DataType                                 int
					}
				}
			}
		}
	}
	for _, query := range []string{"?fields=tables&fields=columns", "?fields=tables,columns", ""} {
		t.Run("query "+query, func(t *testing.T) {
			var d def
			mustJSON(t, b.c.must(http.StatusOK, "GET", "/api/datasets/"+ds+query, nil), &d)
			objs := d.Result.Definition.AvailableObjects
			if d.ID != ds || d.Name != "Types" || len(objs.Tables) != 1 || objs.Tables[0].Name != "t" || objs.Tables[0].Type != 15 {
				t.Fatalf("definition = %+v, want dataset Types with table t of type 15", d)
			}
			got := map[string]int{}
			for _, c := range objs.Columns {
				if c.TableID != objs.Tables[0].ID || c.TableName != "t" || c.ColumnID == "" {
					t.Errorf("column %+v does not point at table t", c)
				}
				got[c.ColumnName] = c.DataType
			}
			want := map[string]int{"s": 33, "i": 1, "bi": 35, "b": 24, "d": 6, "bd": 30, "dt": 14, "tm": 15, "ts": 16}
			for name, code := range want {
				if got[name] != code {
					t.Errorf("column %s dataType = %d, want %d", name, got[name], code)
				}
			}
		})
	}
	t.Run("tables only", func(t *testing.T) {
		var raw struct {
			Result struct {
				Definition struct{ AvailableObjects map[string]json.RawMessage }
			}
		}
		mustJSON(t, b.c.must(http.StatusOK, "GET", "/api/datasets/"+ds+"?fields=tables", nil), &raw)
		if _, ok := raw.Result.Definition.AvailableObjects["columns"]; ok {
			t.Error("fields=tables answered columns too")
		}
	})
	t.Run("unknown dataset", func(t *testing.T) {
		wantError(t, b.c.send("GET", "/api/datasets/FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF?fields=tables", nil, nil), http.StatusNotFound, "ERR004", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF")
		wantError(t, b.c.send("GET", "/api/v2/cubes/FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", nil, nil), http.StatusNotFound, "ERR004")
	})
}
