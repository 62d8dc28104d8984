package api

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type openAPIDoc struct {
	OpenAPI    string                               `json:"openapi"`
	Paths      map[string]map[string]map[string]any `json:"paths"`
	Components map[string]map[string]any            `json:"components"`
}

// The served document lists exactly the routes the router registers.
func TestOpenAPICoversRoutes(t *testing.T) {
	env := newSecEnv(t, &fakeStore{}, "oa-t", nil)
	rec := env.do(t, "GET", "/api/v1/openapi.json", "", "")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("openapi.json: %d %s", rec.Code, rec.Body)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	if rec := env.do(t, "GET", "/api/v1/openapi.yaml", "", ""); rec.Code != 200 {
		t.Fatalf("openapi.yaml: %d", rec.Code)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for m := range ops {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options":
				documented[strings.ToUpper(m)+" "+path] = true
			}
		}
	}
	// The API is under /api/; the browser's pages (/ui, /login, /logout,
	// /auth/callback) are not part of the document. Routes come from the
	// API with and without browser sessions.
	registered := map[string]bool{}
	for _, h := range []http.Handler{env.h, newSessionEnvRoutes(t)} {
		for _, r := range registeredRoutes(t, h) {
			if strings.HasPrefix(r.Path, "/api/") {
				registered[r.Method+" "+openAPIPath(r.Path)] = true
			}
		}
	}
	var missing []string
	for k := range registered {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	var stale []string
	for k := range documented {
		if !registered[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	for _, k := range missing {
		t.Errorf("%s is registered but not in api/openapi.yaml", k)
	}
	for _, k := range stale {
		t.Errorf("%s is in api/openapi.yaml but not registered", k)
	}
}

// Every $ref in the document points at something, and every path
// parameter is declared.
func TestOpenAPIRefsResolve(t *testing.T) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if !resolves(doc, ref) {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	paths, _ := doc.(map[string]any)["paths"].(map[string]any)
	for p, ops := range paths {
		for _, op := range ops.(map[string]any) {
			params := map[string]bool{}
			for _, prm := range asSlice(op.(map[string]any)["parameters"]) {
				pm := prm.(map[string]any)
				if ref, ok := pm["$ref"].(string); ok {
					pm = lookup(doc, ref).(map[string]any)
				}
				if pm["in"] == "path" {
					params[pm["name"].(string)] = true
				}
			}
			for _, m := range pathParamNames(p) {
				if !params[m] {
					t.Errorf("%s: path parameter %s is not declared", p, m)
				}
			}
		}
	}
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func pathParamNames(p string) []string {
	var out []string
	for _, seg := range strings.Split(p, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, seg[1:len(seg)-1])
		}
	}
	return out
}

func lookup(doc any, ref string) any {
	cur := doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func resolves(doc any, ref string) bool {
	return strings.HasPrefix(ref, "#/") && lookup(doc, ref) != nil
}
