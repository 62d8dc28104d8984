// Package dashboards holds only tests: they check the Grafana dashboards in
// json/, their provisioning and the Prometheus rules in prometheus/ against
// the code (see README.md).
package dashboards

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	sdkdashboard "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"go.yaml.in/yaml/v3"
)

const (
	clickhouseType = "grafana-clickhouse-datasource"
	prometheusType = "prometheus"
)

// dashboard is the part of Grafana's dashboard model the tests read.
type dashboard struct {
	file          string
	raw           []byte
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	Tags          []string `json:"tags"`
	SchemaVersion int      `json:"schemaVersion"`
	Time          struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
	Templating struct {
		List []templateVar `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type templateVar struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasourceRef  `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
	Current    struct {
		Value json.RawMessage `json:"value"`
	} `json:"current"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	Targets    []target       `json:"targets"`
	Panels     []panel        `json:"panels"` // a collapsed row's panels
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
	FieldConfig struct {
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options any    `json:"options"`
			} `json:"matcher"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Transformations []struct {
		ID      string `json:"id"`
		Options struct {
			RenameByName map[string]string `json:"renameByName"`
			IndexByName  map[string]int    `json:"indexByName"`
		} `json:"options"`
	} `json:"transformations"`
	Options struct {
		XField string `json:"xField"`
	} `json:"options"`
}

type target struct {
	RefID      string         `json:"refId"`
	Datasource *datasourceRef `json:"datasource"`
	// grafana-clickhouse-datasource v4
	EditorType string `json:"editorType"`
	QueryType  string `json:"queryType"`
	Format     *int   `json:"format"`
	RawSQL     string `json:"rawSql"`
	// prometheus
	Expr string `json:"expr"`
}

// The plugin's format values (sqlutil.FormatQueryOption).
const (
	formatTimeSeries = 0
	formatTable      = 1
)

func loadDashboards(t *testing.T) []*dashboard {
	t.Helper()
	files, err := filepath.Glob("json/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("want the 4 dashboards in json/, found %v", files)
	}
	var out []*dashboard
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := &dashboard{file: f, raw: raw}
		if err := json.Unmarshal(raw, d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

// allPanels flattens rows.
func (d *dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// dsType is the data source type of a target: its own, else its panel's.
func dsType(p panel, tg target) string {
	if tg.Datasource != nil && tg.Datasource.Type != "" {
		return tg.Datasource.Type
	}
	if p.Datasource != nil {
		return p.Datasource.Type
	}
	return ""
}

func (d *dashboard) variable(name string) *templateVar {
	for i := range d.Templating.List {
		if d.Templating.List[i].Name == name {
			return &d.Templating.List[i]
		}
	}
	return nil
}

// The dashboards are checked against Grafana's published dashboard schema
// as the Grafana Foundation SDK generates it for Go (the JSON Schema
// files are not in any package registry reachable here, see README.md):
// strict decoding rejects unknown or mistyped fields, with every core panel
// plugin's options and the Prometheus query model registered, and Validate
// checks the constraints.
func TestDashboardsMatchGrafanaSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for _, d := range loadDashboards(t) {
		t.Run(filepath.Base(d.file), func(t *testing.T) {
			var sd sdkdashboard.Dashboard
			if err := sdkError(sd.UnmarshalJSONStrict(d.raw)); err != nil {
				t.Fatalf("does not match Grafana's dashboard schema: %v", err)
			}
			if err := sdkError(sd.Validate()); err != nil {
				t.Fatalf("invalid: %v", err)
			}
		})
	}
	// The check has teeth: a misspelt field, a wrong type, a missing
	// required field are each refused.
	d := loadDashboards(t)[0]
	for name, mutate := range map[string]func(map[string]any){
		"unknown panel field":  func(m map[string]any) { m["panels"].([]any)[1].(map[string]any)["gridpos"] = map[string]any{} },
		"string schemaVersion": func(m map[string]any) { m["schemaVersion"] = "41" },
		"panel without type":   func(m map[string]any) { delete(m["panels"].([]any)[1].(map[string]any), "type") },
		"bad stat option": func(m map[string]any) {
			m["panels"].([]any)[1].(map[string]any)["options"].(map[string]any)["colorMode"] = 3
		},
	} {
		var m map[string]any
		if err := json.Unmarshal(d.raw, &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		raw, _ := json.Marshal(m)
		var sd sdkdashboard.Dashboard
		if sdkError(sd.UnmarshalJSONStrict(raw)) == nil && sdkError(sd.Validate()) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// sdkError undoes the SDK returning an empty cog.BuildErrors as a non-nil
// error.
func sdkError(err error) error {
	if be, ok := err.(cog.BuildErrors); ok && len(be) == 0 {
		return nil
	}
	return err
}

// What Grafana and the provisioning need, and what keeps the dashboards
// portable between deployments.
func TestDashboardConventions(t *testing.T) {
	uids := map[string]string{}
	ids := regexp.MustCompile(`^phiwatch-[a-z0-9-]+$`)
	for _, d := range loadDashboards(t) {
		t.Run(filepath.Base(d.file), func(t *testing.T) {
			if !ids.MatchString(d.UID) || len(d.UID) > 40 {
				t.Errorf("uid %q: want a stable phiwatch-… uid of at most 40 characters", d.UID)
			}
			if other, dup := uids[d.UID]; dup {
				t.Errorf("uid %q also used by %s", d.UID, other)
			}
			uids[d.UID] = d.file
			if !slices.Contains(d.Tags, "phiwatch") {
				t.Errorf("tags %v lack phiwatch (the dashboards' links list dashboards by it)", d.Tags)
			}
			if d.SchemaVersion < 39 || d.SchemaVersion > 42 {
				t.Errorf("schemaVersion %d: want a current Grafana's (39–42)", d.SchemaVersion)
			}
			if !strings.HasPrefix(d.Time.From, "now-") || d.Time.To != "now" {
				t.Errorf("time range %s to %s: want a relative range ending now", d.Time.From, d.Time.To)
			}
			// Data sources are chosen by variables, so a Grafana with other
			// data source uids only has to pick them once.
			dsVars := map[string]string{}
			for _, v := range d.Templating.List {
				if v.Type == "datasource" {
					var q string
					if err := json.Unmarshal(v.Query, &q); err != nil {
						t.Errorf("data source variable %s: query is not a plugin id: %s", v.Name, v.Query)
					}
					dsVars["${"+v.Name+"}"] = q
				}
			}
			panels := 0
			ids := map[int]bool{}
			var cells [][4]int // x, y, w, h
			for _, p := range d.allPanels() {
				if ids[p.ID] {
					t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
				}
				ids[p.ID] = true
				g := p.GridPos
				if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
					t.Errorf("panel %q: gridPos %+v is outside the 24-column grid", p.Title, g)
				}
				for _, c := range cells {
					if g.X < c[0]+c[2] && c[0] < g.X+g.W && g.Y < c[1]+c[3] && c[1] < g.Y+g.H {
						t.Errorf("panel %q at %+v overlaps another panel", p.Title, g)
					}
				}
				cells = append(cells, [4]int{g.X, g.Y, g.W, g.H})
				if p.Type == "row" {
					continue
				}
				panels++
				refs := []*datasourceRef{p.Datasource}
				for _, tg := range p.Targets {
					refs = append(refs, tg.Datasource)
				}
				for _, r := range refs {
					if r == nil {
						t.Errorf("panel %q: no data source", p.Title)
						continue
					}
					if typ, ok := dsVars[r.UID]; !ok || typ != r.Type {
						t.Errorf("panel %q: data source %s %s is not one of the dashboard's data source variables %v", p.Title, r.Type, r.UID, dsVars)
					}
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				for _, tg := range p.Targets {
					switch dsType(p, tg) {
					case clickhouseType:
						if tg.EditorType != "sql" || tg.RawSQL == "" || tg.Format == nil {
							t.Errorf("panel %q: want the v4 SQL query model (editorType sql, rawSql, format)", p.Title)
						} else if want := map[int]string{formatTimeSeries: "timeseries", formatTable: "table"}[*tg.Format]; want != tg.QueryType {
							t.Errorf("panel %q: format %d with queryType %q", p.Title, *tg.Format, tg.QueryType)
						}
					case prometheusType:
						if tg.Expr == "" {
							t.Errorf("panel %q: empty PromQL", p.Title)
						}
					default:
						t.Errorf("panel %q: data source type %q", p.Title, dsType(p, tg))
					}
				}
			}
			if panels < 8 {
				t.Errorf("only %d panels", panels)
			}
			if strings.Contains(string(d.raw), `"uid": "phiwatch-clickhouse"`) && !strings.Contains(string(d.raw), `"name": "ds_clickhouse"`) {
				t.Error("a data source uid is hard-coded outside its variable")
			}
		})
	}
}

// The provisioning files name the uids the dashboards' variables default
// to, take every deployment-specific value from the environment, and point
// the provider at where compose and Helm mount json/.
func TestProvisioning(t *testing.T) {
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, URL string
			JSONData             map[string]any    `yaml:"jsonData"`
			SecureJSONData       map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, "provisioning/datasources/phiwatch.yaml", &ds)
	byUID := map[string]string{}
	envRef := regexp.MustCompile(`^\$\{[A-Z_]+\}$`)
	for _, d := range ds.Datasources {
		byUID[d.UID] = d.Type
		switch d.Type {
		case clickhouseType:
			for _, k := range []string{"host", "port", "username", "defaultDatabase", "secure"} {
				if v, _ := d.JSONData[k].(string); !envRef.MatchString(v) {
					t.Errorf("ClickHouse jsonData.%s = %v: want an ${ENV} reference", k, d.JSONData[k])
				}
			}
			if d.JSONData["protocol"] != "native" {
				t.Errorf("ClickHouse protocol %v: want native", d.JSONData["protocol"])
			}
			if !envRef.MatchString(d.SecureJSONData["password"]) {
				t.Errorf("ClickHouse password must come from the environment")
			}
		case prometheusType:
			if !envRef.MatchString(d.URL) {
				t.Errorf("Prometheus url %q: want an ${ENV} reference", d.URL)
			}
		}
	}
	if ds.APIVersion != 1 || byUID["phiwatch-clickhouse"] != clickhouseType || byUID["phiwatch-prometheus"] != prometheusType {
		t.Errorf("want apiVersion 1 and the uids phiwatch-clickhouse and phiwatch-prometheus, got %v", byUID)
	}
	for _, d := range loadDashboards(t) {
		for _, v := range d.Templating.List {
			if v.Type != "datasource" {
				continue
			}
			var cur string
			json.Unmarshal(v.Current.Value, &cur)
			var plugin string
			json.Unmarshal(v.Query, &plugin)
			if byUID[cur] != plugin {
				t.Errorf("%s: variable %s defaults to %q, which is not a provisioned %s data source", d.file, v.Name, cur, plugin)
			}
		}
	}

	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "provisioning/dashboards/phiwatch.yaml", &prov)
	if prov.APIVersion != 1 || len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || prov.Providers[0].Options.Path == "" {
		t.Errorf("want one file provider with a path, got %+v", prov)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// readYAMLStrict also refuses fields v does not have: a misspelt key in a
// rule file is otherwise silently ignored.
func readYAMLStrict(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
