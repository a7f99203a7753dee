package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/server"
	"github.com/opsflow/opsflow/web"
)

// loadDoc generates the document and checks it is valid OpenAPI 3.
func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	b, err := server.New(server.Config{}).OpenAPI()
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the generated document is not valid OpenAPI: %v", err)
	}
	return doc
}

// The document is generated from the route table, so it cannot miss a
// route; this checks the other way too (every served route documented,
// every documented route served) against what Echo really serves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadDoc(t)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+path] = true
			if op.Responses.Len() == 0 {
				t.Errorf("%s %s has no responses", method, path)
			}
		}
	}
	param := regexp.MustCompile(`:([a-z_]+)`)
	routed := map[string]bool{}
	for _, r := range server.New(server.Config{}).Routes() {
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

// Every record schema has every field of its Go type (the hand-written
// document had 10 of the CAPA's 35), and every step's body schema every
// field a client may send.
func TestOpenAPISchemasHaveEveryField(t *testing.T) {
	doc := loadDoc(t)
	for _, ki := range opsflow.Kinds() {
		checkFields(t, doc, ki.Record)
		for _, st := range ki.Steps {
			if st.Body != nil {
				checkFields(t, doc, st.Body)
			}
		}
	}
}

func checkFields(t *testing.T, doc *openapi3.T, typ reflect.Type) {
	t.Helper()
	s := doc.Components.Schemas[typ.Name()]
	if s == nil || s.Value == nil {
		t.Errorf("no schema %s", typ.Name())
		return
	}
	for _, name := range jsonFields(typ) {
		if name == "actor" {
			if _, ok := s.Value.Properties[name]; ok {
				t.Errorf("%s documents actor, which the API sets", typ.Name())
			}
			continue
		}
		if _, ok := s.Value.Properties[name]; !ok {
			t.Errorf("schema %s lacks field %s", typ.Name(), name)
		}
	}
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// Every example body validates against its schema, and is accepted by the
// step's own validation: what the reference shows works.
func TestOpenAPIExamplesAreValid(t *testing.T) {
	doc := loadDoc(t)
	n := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil {
				continue
			}
			mt := op.RequestBody.Value.Content.Get("application/json")
			if mt == nil || mt.Example == nil {
				if op.RequestBody.Value.Required {
					t.Errorf("%s %s has no example body", method, path)
				}
				continue
			}
			if err := mt.Schema.Value.VisitJSON(mt.Example); err != nil {
				t.Errorf("%s %s: the example does not match its schema: %v", method, path, err)
			}
			n++
		}
	}
	if n < 30 {
		t.Errorf("only %d examples checked", n)
	}
	for _, ki := range opsflow.Kinds() {
		for _, st := range ki.Steps {
			if st.Body == nil || st.Name == opsflow.UpdateMoveTask || st.Name == opsflow.OnboardingStep.MoveStart.Name {
				continue // task moves take any body; a start date is resolved by the API (tested through it)
			}
			// The examples are JSON as a client sends it: decode them
			// as the API does before the step's validation sees them.
			b, _ := json.Marshal(st.Example)
			body := reflect.New(st.Body)
			if err := json.Unmarshal(b, body.Interface()); err != nil {
				t.Fatal(err)
			}
			// The API checks a signature's password before the step's
			// validation sees it.
			if sg, ok := body.Interface().(opsflow.Signer); ok && sg.Sig() != nil {
				sg.Sig().Verified(opsflow.SignMethodPassword)
			}
			if _, err := st.Input(opsflow.Call{Actor: opsflow.Actor{ID: "bob", Name: "Bob Chen"}, TaskID: "t1"}, body.Elem().Interface()); err != nil && st.Name != opsflow.CAPAStep.ProposePlan.Name {
				t.Errorf("%s %s: the example is refused: %v", ki.Kind, st.Name, err)
			}
		}
	}
}

// The document and the reference page are public: a document that says
// how to authenticate holds no data.
func TestOpenAPIAndDocsArePublic(t *testing.T) {
	a := newApp(t)
	for _, path := range []string{"/openapi.json", "/v1/openapi.json"} {
		if m := a.Must(http.StatusOK, "", "GET", path, nil).Map(t); m["paths"] == nil {
			t.Errorf("%s has no paths", path)
		}
	}
	page := a.Must(http.StatusOK, "", "GET", "/docs", nil)
	if !strings.Contains(string(page.Body), "/openapi.json") || !strings.Contains(page.Header.Get("Content-Type"), "text/html") {
		t.Errorf("/docs: %s", page.Body)
	}
	js := a.Must(http.StatusOK, "", "GET", "/docs?asset=redoc.js", nil)
	if len(js.Body) < 100000 || !slices.Contains([]string{"application/javascript"}, js.Header.Get("Content-Type")) {
		t.Errorf("redoc bundle: %d bytes, %s", len(js.Body), js.Header.Get("Content-Type"))
	}
}

// The web app's forms that post to a route of their own (settings,
// reports, measurements, the CAPA report) name fields of that route's
// body: an input the body lacks would be dropped, and the API's 422 about
// it would not land next to it.
func TestWebFormsMatchTheirRoutes(t *testing.T) {
	for _, p := range web.CheckForms(server.New(server.Config{})) {
		t.Error(p)
	}
}
