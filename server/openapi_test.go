package server_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/opsflow/opsflow/server"
)

// TestOpenAPIMatchesRoutes keeps the document in step with routes.go: every
// route is documented, every documented operation exists, and every
// operation declares its responses.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	b, err := server.OpenAPI()
	if err != nil {
		t.Fatalf("merge: %v", err)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
			if _, ok := op["responses"]; !ok {
				t.Errorf("%s %s has no responses", method, path)
			}
		}
	}
	param := regexp.MustCompile(`:([a-z_]+)`)
	routed := map[string]bool{}
	s := server.New(server.Config{})
	for _, r := range s.Routes() {
		if strings.HasPrefix(r.Method, "echo_route_") || strings.HasSuffix(r.Path, "*") {
			continue
		}
		routed[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	var missing, extra []string
	for k := range routed {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !routed[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, k := range missing {
		t.Errorf("route %s is not in the OpenAPI document", k)
	}
	for _, k := range extra {
		t.Errorf("the OpenAPI document has %s, which no route serves", k)
	}
}

func TestOpenAPIIsServed(t *testing.T) {
	a := newApp(t)
	a.Must(http.StatusUnauthorized, "", "GET", "/v1/openapi.json", nil)
	r := a.Must(http.StatusOK, "alice", "GET", "/v1/openapi.json", nil)
	if m := r.Map(t); m["paths"] == nil {
		t.Errorf("served document has no paths")
	}
}
