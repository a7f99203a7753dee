package server

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"
	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
)

// The OpenAPI document is generated, never written by hand: operations
// from the route table (apiRoutes), schemas from the Go types that are the
// wire types (with kin-openapi's openapi3gen), examples from the step
// table. kin-openapi was chosen over huma because it generates from the
// types and routes opsflow already has, keeps Echo's handlers and error
// shape as they are, and validates traffic against the same document in
// the tests (openapi3filter).

// Version is the API's version as the document states it.
const Version = "1.1.0"

// OpenAPI returns the document of an API serving ops.
func (s *Server) OpenAPI() ([]byte, error) {
	s.docOnce.Do(func() {
		var doc *openapi3.T
		doc, s.docErr = buildOpenAPI(s.ops)
		if s.docErr == nil {
			s.docJSON, s.docErr = json.MarshalIndent(doc, "", "  ")
		}
	})
	return s.docJSON, s.docErr
}

func (s *Server) openapi(c echo.Context) error {
	b, err := s.OpenAPI()
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, b)
}

//go:embed docs/redoc.standalone.js
var redocJS []byte

//go:embed docs/*LICENSE*
var docsLicenses embed.FS

// docs serves the API reference: Redoc, vendored and pinned (an air-gapped
// plant network has no CDN), reading /openapi.json.
func (s *Server) docs(c echo.Context) error {
	if c.QueryParam("asset") == "redoc.js" {
		c.Response().Header().Set("Cache-Control", "public, max-age=86400")
		return c.Blob(http.StatusOK, "application/javascript", redocJS)
	}
	return c.HTML(http.StatusOK, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>opsflow API</title><style>body{margin:0}</style></head>
<body><redoc spec-url="/openapi.json" hide-download-button="false"></redoc>
<script src="/docs?asset=redoc.js"></script></body></html>`)
}

var _ = docsLicenses // shipped with the binary beside the bundle they cover

func buildOpenAPI(ops []op) (*openapi3.T, error) {
	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info: &openapi3.Info{Title: "opsflow API", Version: Version,
			Description: "Corrective actions (CAPA), Kaizen (PDCA) and onboarding as durable processes. " +
				"Every /v1 route needs `Authorization: Bearer <token>`. Writes are idempotent with an `Idempotency-Key` header. " +
				"Errors have one shape: `{\"error\": {\"code\", \"message\", \"field\", \"state\"}}`. " +
				"A step answers 202 when Temporal accepted it but it was not applied before the request's deadline, and 503 (with Retry-After) when it was not applied."},
		Paths: openapi3.NewPaths(),
		Components: &openapi3.Components{
			Schemas: openapi3.Schemas{},
			SecuritySchemes: openapi3.SecuritySchemes{"bearer": &openapi3.SecuritySchemeRef{Value: &openapi3.SecurityScheme{
				Type: "http", Scheme: "bearer", Description: "An API token from `opsflow token create`"}}},
		},
	}
	g := newSchemaGen(doc.Components.Schemas)
	errSchema := g.ref(typeOf[errorBody]())
	acceptedSchema := g.ref(typeOf[acceptedBody]())
	for _, o := range ops {
		path := echoToOpenAPI(o.path)
		item := doc.Paths.Find(path)
		if item == nil {
			item = &openapi3.PathItem{}
			doc.Paths.Set(path, item)
		}
		oper := &openapi3.Operation{OperationID: o.id, Summary: o.summary, Description: o.doc, Tags: []string{o.tag},
			Responses: openapi3.NewResponses()}
		if o.isPublic() {
			oper.Security = &openapi3.SecurityRequirements{}
		} else {
			oper.Security = &openapi3.SecurityRequirements{{"bearer": {}}}
		}
		for _, name := range pathParams(o.path) {
			oper.Parameters = append(oper.Parameters, &openapi3.ParameterRef{Value: openapi3.NewPathParameter(name).
				WithSchema(openapi3.NewStringSchema())})
		}
		for _, q := range o.query {
			oper.Parameters = append(oper.Parameters, &openapi3.ParameterRef{Value: openapi3.NewQueryParameter(q.name).
				WithDescription(q.doc).WithSchema(paramSchema(q))})
		}
		if o.method == http.MethodPost && !o.isPublic() {
			oper.Parameters = append(oper.Parameters, &openapi3.ParameterRef{Value: openapi3.NewHeaderParameter("Idempotency-Key").
				WithDescription("The same key from the same user returns the same resource (creates) or runs the change once (steps); with another body it is refused (422).").
				WithSchema(openapi3.NewStringSchema().WithMaxLength(200))})
		}
		if o.body != nil {
			content := openapi3.NewContentWithJSONSchemaRef(g.ref(o.body))
			if o.example != nil {
				content.Get("application/json").Example = o.example
			}
			for _, ct := range o.bodyAlt {
				content[ct] = openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())
			}
			oper.RequestBody = &openapi3.RequestBodyRef{Value: &openapi3.RequestBody{Required: !o.optionalBody, Content: content}}
		}
		status := o.status
		if status == 0 {
			status = http.StatusOK
		}
		ok := &openapi3.Response{Description: ptr(http.StatusText(status))}
		switch {
		case o.resp == nil && len(o.content) > 0:
			ok.Content = openapi3.Content{}
			for _, ct := range o.content {
				ok.Content[ct] = openapi3.NewMediaType().WithSchema(textSchema(ct))
			}
		case o.resp != nil:
			schema := g.ref(o.resp)
			if o.list {
				schema = openapi3.NewObjectSchema().WithProperty("next_cursor", openapi3.NewStringSchema()).
					WithPropertyRef("items", &openapi3.SchemaRef{Value: openapi3.NewArraySchema().WithItems(derefSchema(schema))}).NewRef()
				schema.Value.Required = []string{"items"}
			}
			ok.Content = openapi3.NewContentWithJSONSchemaRef(schema)
			for _, ct := range o.content {
				if ct != "application/json" {
					ok.Content[ct] = openapi3.NewMediaType().WithSchema(textSchema(ct))
				}
			}
		}
		oper.Responses.Set(fmt.Sprint(status), &openapi3.ResponseRef{Value: ok})
		if status == http.StatusCreated {
			// A create repeated with its Idempotency-Key after the process
			// finished answers 200 with the record.
			oper.Responses.Set("200", &openapi3.ResponseRef{Value: ok})
		}
		if o.step {
			oper.Responses.Set("202", &openapi3.ResponseRef{Value: &openapi3.Response{
				Description: ptr("Accepted, not applied before the deadline: read Location, or repeat with the same Idempotency-Key"),
				Content:     openapi3.NewContentWithJSONSchemaRef(acceptedSchema)}})
		}
		for _, code := range errorStatuses(o) {
			schema := errSchema
			if t, ok := o.errBodies[code]; ok {
				schema = g.ref(t)
			}
			oper.Responses.Set(fmt.Sprint(code), &openapi3.ResponseRef{Value: &openapi3.Response{
				Description: ptr(http.StatusText(code)), Content: openapi3.NewContentWithJSONSchemaRef(schema)}})
		}
		item.SetOperation(o.method, oper)
	}
	if err := g.err; err != nil {
		return nil, err
	}
	return doc, nil
}

// textSchema is the schema of a non-JSON answer: text, or bytes for an
// image or a PDF.
func textSchema(contentType string) *openapi3.Schema {
	if strings.HasPrefix(contentType, "image/png") || contentType == "application/pdf" {
		return openapi3.NewStringSchema().WithFormat("binary")
	}
	return openapi3.NewStringSchema()
}

// errorStatuses are the error answers an op can give.
func errorStatuses(o op) []int {
	codes := []int{http.StatusInternalServerError}
	if !o.isPublic() {
		codes = append(codes, http.StatusUnauthorized, http.StatusForbidden, http.StatusUnprocessableEntity, http.StatusServiceUnavailable)
	}
	if strings.Contains(o.path, ":") {
		codes = append(codes, http.StatusNotFound, http.StatusUnprocessableEntity)
	}
	if len(o.query) > 0 {
		codes = append(codes, http.StatusUnprocessableEntity)
	}
	if o.body != nil {
		codes = append(codes, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge)
	}
	if o.step || o.method == http.MethodPost {
		codes = append(codes, http.StatusConflict)
	}
	if !o.isPublic() && (o.method != http.MethodGet || strings.HasSuffix(o.path, "/export")) {
		codes = append(codes, http.StatusTooManyRequests) // over the credential's budget (ratelimit.go)
	}
	codes = append(codes, o.errs...)
	slices.Sort(codes)
	return slices.Compact(codes)
}

// echoToOpenAPI turns "/v1/capas/:id" into "/v1/capas/{id}".
func echoToOpenAPI(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if strings.HasPrefix(part, ":") {
			parts[i] = "{" + part[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

func pathParams(p string) []string {
	var out []string
	for _, part := range strings.Split(p, "/") {
		if strings.HasPrefix(part, ":") {
			out = append(out, part[1:])
		}
	}
	return out
}

func paramSchema(q param) *openapi3.Schema {
	var s *openapi3.Schema
	switch q.typ {
	case "integer":
		s = openapi3.NewIntegerSchema()
	case "boolean":
		s = openapi3.NewBoolSchema()
	case "date-time":
		// A date (2026-11-21) or an RFC 3339 time: the API reads both.
		s = openapi3.NewStringSchema()
	case "date":
		s = openapi3.NewStringSchema().WithFormat("date")
	default:
		s = openapi3.NewStringSchema()
	}
	for _, e := range q.enum {
		s.Enum = append(s.Enum, e)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// derefSchema returns ref as is; list items use it directly.
func derefSchema(ref *openapi3.SchemaRef) *openapi3.Schema {
	if ref.Ref != "" {
		return &openapi3.Schema{AllOf: openapi3.SchemaRefs{ref}}
	}
	return ref.Value
}

// schemaGen generates component schemas from Go types, with opsflow's
// conventions: JSON names, enums of the domain's named string types,
// ISO 8601 durations, fields without omitempty are always present
// (required), objects have no properties beyond their type's (so an
// undocumented field fails the contract tests), and a step input's
// "actor" is not part of any body (the API sets it).
type schemaGen struct {
	gen     *openapi3gen.Generator
	schemas openapi3.Schemas
	err     error
}

func newSchemaGen(schemas openapi3.Schemas) *schemaGen {
	g := &schemaGen{schemas: schemas}
	g.gen = openapi3gen.NewGenerator(openapi3gen.UseAllExportedFields(),
		openapi3gen.CreateComponentSchemas(openapi3gen.ExportComponentSchemasOptions{ExportComponentSchemas: true}),
		openapi3gen.CreateTypeNameGenerator(func(t reflect.Type) string {
			name := t.Name()
			if i := strings.IndexByte(name, '['); i >= 0 { // generic: Page[...]
				name = name[:i]
			}
			return strings.ToUpper(name[:1]) + name[1:]
		}),
		openapi3gen.SchemaCustomizer(customizeSchema))
	return g
}

// ref returns the schema of t, adding component schemas as needed.
func (g *schemaGen) ref(t reflect.Type) *openapi3.SchemaRef {
	if t.Kind() == reflect.Map {
		s := openapi3.NewObjectSchema()
		if t.Elem().Kind() == reflect.String {
			s.AdditionalProperties = openapi3.AdditionalProperties{Schema: openapi3.NewStringSchema().NewRef()}
		}
		return s.NewRef()
	}
	ref, err := g.gen.NewSchemaRefForValue(reflect.New(t).Elem().Interface(), g.schemas)
	if err != nil && g.err == nil {
		g.err = fmt.Errorf("schema of %s: %w", t, err)
	}
	if ref != nil && ref.Ref == "" && t.Kind() == reflect.Struct && t.Name() != "" && t != reflect.TypeFor[time.Time]() {
		// A top-level struct becomes a component too, so the document
		// names it (CAPA, Kaizen, TriageInput …).
		name := strings.ToUpper(t.Name()[:1]) + t.Name()[1:]
		if _, ok := g.schemas[name]; !ok {
			g.schemas[name] = &openapi3.SchemaRef{Value: ref.Value}
		}
		return openapi3.NewSchemaRef("#/components/schemas/"+name, nil)
	}
	return ref
}

// enums maps the domain's named string types to their values.
var enums = map[reflect.Type][]string{
	reflect.TypeFor[opsflow.CAPAState]():       statesOf(opsflow.CAPAStates),
	reflect.TypeFor[opsflow.TaskState]():       statesOf(opsflow.TaskStates),
	reflect.TypeFor[opsflow.Role]():            statesOf(opsflow.Roles),
	reflect.TypeFor[opsflow.KaizenPhase]():     statesOf(kaizenPhases),
	reflect.TypeFor[opsflow.OnboardingState](): statesOf(opsflow.OnboardingStates),
	reflect.TypeFor[opsflow.Kind]():            {string(opsflow.KindCAPA), string(opsflow.KindKaizen), string(opsflow.KindOnboarding), string(opsflow.KindKPI)},
	reflect.TypeFor[opsflow.Direction]():       {string(opsflow.HigherIsBetter), string(opsflow.LowerIsBetter)},
}

func customizeSchema(name string, t reflect.Type, tag reflect.StructTag, s *openapi3.Schema) error {
	switch {
	case t == reflect.TypeFor[opsflow.Duration]():
		*s = *openapi3.NewStringSchema().WithFormat("duration")
		s.Description = "ISO 8601 duration, e.g. P2D or PT4H"
		return nil
	case t == reflect.TypeFor[json.RawMessage]():
		*s = openapi3.Schema{Description: "any JSON value"}
		return nil
	}
	if values, ok := enums[t]; ok {
		s.Enum = nil
		for _, v := range values {
			s.Enum = append(s.Enum, v)
		}
		if t == reflect.TypeFor[opsflow.CAPAState]() || t == reflect.TypeFor[opsflow.KaizenPhase]() || t == reflect.TypeFor[opsflow.OnboardingState]() {
			// States every kind can end in outside its own lifecycle.
			s.Enum = append(s.Enum, "stalled", opsflow.StateAbandoned, opsflow.StateTerminated)
		}
	}
	if t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		s.Nullable = true // a nil slice encodes as null
	}
	if t.Kind() == reflect.Struct && t != reflect.TypeFor[time.Time]() {
		delete(s.Properties, "actor") // set by the API from the token, never sent
		s.Required = requiredFields(t)
		s.AdditionalProperties = openapi3.AdditionalProperties{Has: ptr(false)}
	}
	return nil
}

// requiredFields lists the JSON names of t's fields that are always
// present: those without omitempty or omitzero (embedded structs' fields
// included).
func requiredFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			// encoding/json inlines an embedded struct's fields, also
			// when its type is unexported (tokenRequest in
			// adminTokenRequest).
			out = append(out, requiredFields(f.Type)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == "actor" || strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero") {
			continue
		}
		out = append(out, name)
	}
	return out
}
