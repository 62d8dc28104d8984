package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"
)

// openAPIYAML is the API's OpenAPI 3.1 document. A test keeps it and the
// registered routes in step, both ways.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIJSON converts the document to JSON.
func openAPIJSON() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return json.Marshal(doc)
}

// registerOpenAPI serves the document without authentication: it describes
// the API and holds no data. A broken document (the tests catch it) is
// served as a 500.
func registerOpenAPI(r gin.IRoutes) {
	doc, err := openAPIJSON()
	r.GET("/api/v1/openapi.json", func(c *gin.Context) {
		if err != nil {
			problem(c, 500, "the OpenAPI document is broken: "+err.Error())
			return
		}
		c.Data(http.StatusOK, "application/json", doc)
	})
	r.GET("/api/v1/openapi.yaml", func(c *gin.Context) {
		c.Data(http.StatusOK, "application/yaml", openAPIYAML)
	})
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// openAPIPath writes a gin route pattern the OpenAPI way:
// /tenants/:tenant → /tenants/{tenant}.
func openAPIPath(ginPath string) string { return ginParam.ReplaceAllString(ginPath, "{$1}") }
