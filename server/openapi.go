package server

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"sync"

	"github.com/labstack/echo/v4"
)

// The OpenAPI document is kept as one fragment per resource
// (openapi/*.json), each with "paths" and "components"; base.json holds the
// rest. They are merged once at first use. A test checks that the document
// and the routes name the same operations.
//
//go:embed openapi/*.json
var openapiFS embed.FS

var (
	openapiOnce sync.Once
	openapiDoc  []byte
	openapiErr  error
)

// OpenAPI returns the merged OpenAPI 3 document.
func OpenAPI() ([]byte, error) {
	openapiOnce.Do(func() { openapiDoc, openapiErr = mergeOpenAPI(openapiFS) })
	return openapiDoc, openapiErr
}

func mergeOpenAPI(fsys fs.FS) ([]byte, error) {
	names, err := fs.Glob(fsys, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	doc := map[string]any{}
	paths := map[string]any{}
	components := map[string]map[string]any{}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var frag map[string]any
		if err := json.Unmarshal(b, &frag); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for k, v := range frag {
			switch k {
			case "paths":
				for p, ops := range v.(map[string]any) {
					if _, dup := paths[p]; dup {
						return nil, fmt.Errorf("%s: path %s is defined twice", name, p)
					}
					paths[p] = ops
				}
			case "components":
				for section, items := range v.(map[string]any) {
					if components[section] == nil {
						components[section] = map[string]any{}
					}
					for n, item := range items.(map[string]any) {
						if _, dup := components[section][n]; dup {
							return nil, fmt.Errorf("%s: components.%s.%s is defined twice", name, section, n)
						}
						components[section][n] = item
					}
				}
			default:
				doc[k] = v
			}
		}
	}
	doc["paths"] = paths
	doc["components"] = components
	return json.MarshalIndent(doc, "", "  ")
}

func (s *Server) openapi(c echo.Context) error {
	b, err := OpenAPI()
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, b)
}
