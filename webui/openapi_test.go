package webui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes checks the hand-written OpenAPI document against the routing table
// both ways, that every $ref resolves, and that each documented operation is really routed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, Options{})
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	res, body := e.do("GET", "/api/v1/openapi.json", "")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("openapi.json: %d %v", res.StatusCode, res.Header)
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	routed := map[string]bool{}
	for _, rt := range e.srv.routes {
		paths := rt.docs
		if paths == nil {
			paths = []string{rt.pattern}
		}
		for _, p := range paths {
			routed[rt.method+" "+p] = true
		}
	}
	for op := range routed {
		if !documented[op] {
			t.Errorf("route %s is not in openapi.json", op)
		}
	}
	for op := range documented {
		if !routed[op] {
			t.Errorf("openapi.json documents %s, which is not routed", op)
		}
	}
	// Every documented operation reaches a handler (not the mux's own 404/405).
	h := e.srv.Handler()
	for op := range documented {
		method, path, _ := strings.Cut(op, " ")
		if method == "DELETE" || strings.Contains(path, "events") || strings.Contains(path, "websocket") || strings.HasSuffix(path, "/wait") {
			continue // destructive or long-lived; covered by their own tests
		}
		path = strings.NewReplacer("{ID}", "nope", "{id}", "nope", "{PartID}", "1", "{index}", "0", "{Tag}", "t").Replace(path)
		req := httptest.NewRequest(method, "http://127.0.0.1"+path, strings.NewReader("{}"))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusMethodNotAllowed || strings.TrimSpace(rec.Body.String()) == "404 page not found" {
			t.Errorf("%s %s: %d %q (not routed)", method, path, rec.Code, rec.Body.String())
		}
	}
	// Every $ref resolves.
	var all map[string]any
	json.Unmarshal(body, &all)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				var cur any = all
				for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := cur.(map[string]any)
					cur = m[p]
				}
				if cur == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(all)
	if len(documented) < 25 || !slices.Contains([]bool{documented["GET /api/v1/wait"]}, true) {
		t.Errorf("document looks incomplete: %d operations", len(documented))
	}
}
