// Package compose holds the single-machine deployment (compose.yaml) and its
// validation: the file is loaded with the Compose specification's own Go
// library, as docker compose does, so no Docker engine is needed.
package compose

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	phiwatch "github.com/phiwatch/phiwatch/internal/cli"
)

// required are the variables .env.example leaves for the operator to fill.
var required = map[string]string{
	"CLICKHOUSE_PASSWORD":         "test-password",
	"GRAFANA_CLICKHOUSE_PASSWORD": "test-grafana-password",
}

func load(t *testing.T, extra map[string]string) (*types.Project, error) {
	t.Helper()
	var env []string
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"},
		cli.WithWorkingDirectory("."),
		cli.WithEnvFiles(".env.example"),
		cli.WithDotEnv,
		cli.WithEnv(env),
		cli.WithName("phiwatch"),
	)
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func project(t *testing.T) *types.Project {
	t.Helper()
	p, err := load(t, required)
	if err != nil {
		t.Fatalf("load compose.yaml with .env.example: %v", err)
	}
	return p
}

// roles maps each phiwatch service to its subcommand.
var roles = map[string]string{"migrate": "migrate", "ingest": "ingest", "load": "load", "analyze": "analyze", "api": "api"}

func TestRequiredVariablesAreEnforced(t *testing.T) {
	for name := range required {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range required {
				if k != name {
					env[k] = v
				}
			}
			_, err := load(t, env)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("loading without %s: error %v, want one naming it", name, err)
			}
		})
	}
}

func TestServices(t *testing.T) {
	p := project(t)
	want := []string{"analyze", "api", "clickhouse", "grafana", "ingest", "kafka", "load", "migrate", "prometheus"}
	if got := p.ServiceNames(); !slices.Equal(sortedCopy(got), want) {
		t.Fatalf("services %v, want %v", sortedCopy(got), want)
	}
	for name, svc := range p.Services {
		t.Run(name, func(t *testing.T) {
			switch name {
			case "migrate":
				if svc.Restart != "no" {
					t.Errorf("migrate is a one-shot, restart %q", svc.Restart)
				}
				if svc.HealthCheck != nil {
					t.Error("migrate exits: a health check would never pass")
				}
			default:
				if svc.Restart != "unless-stopped" {
					t.Errorf("restart %q, want unless-stopped", svc.Restart)
				}
				if svc.HealthCheck == nil || len(svc.HealthCheck.Test) < 2 {
					t.Errorf("no health check")
				}
			}
			if role, ok := roles[name]; ok {
				if len(svc.Command) == 0 || svc.Command[0] != role {
					t.Errorf("command %v, want the %s role", svc.Command, role)
				}
				if !svc.ReadOnly || !slices.Contains(svc.CapDrop, "ALL") {
					t.Error("phiwatch roles run with a read-only root file system and no capabilities")
				}
				if svc.Build == nil || svc.Build.Dockerfile != "deploy/docker/Dockerfile" {
					t.Errorf("build %+v, want deploy/docker/Dockerfile", svc.Build)
				} else if _, err := os.Stat(filepath.Join(svc.Build.Context, svc.Build.Dockerfile)); err != nil {
					t.Errorf("Dockerfile: %v", err)
				}
			}
		})
	}
}

func TestDependencies(t *testing.T) {
	p := project(t)
	want := map[string]map[string]string{
		"migrate": {"clickhouse": types.ServiceConditionHealthy},
		"ingest":  {"kafka": types.ServiceConditionHealthy},
		"load":    {"kafka": types.ServiceConditionHealthy, "clickhouse": types.ServiceConditionHealthy, "migrate": types.ServiceConditionCompletedSuccessfully},
		"analyze": {"clickhouse": types.ServiceConditionHealthy, "migrate": types.ServiceConditionCompletedSuccessfully},
		"api":     {"clickhouse": types.ServiceConditionHealthy, "migrate": types.ServiceConditionCompletedSuccessfully},
		"grafana": {"clickhouse": types.ServiceConditionHealthy, "prometheus": types.ServiceConditionHealthy},
	}
	for svc, deps := range want {
		got := p.Services[svc].DependsOn
		if len(got) != len(deps) {
			t.Errorf("%s depends on %v, want %v", svc, got, deps)
		}
		for dep, cond := range deps {
			if got[dep].Condition != cond {
				t.Errorf("%s → %s: condition %q, want %q", svc, dep, got[dep].Condition, cond)
			}
		}
	}
	// Roles that write or read the schema start only after migrate: they
	// run with --migrate=false where they have the flag.
	if v := p.Services["load"].Environment["PHIWATCH_MIGRATE"]; v == nil || *v != "false" {
		t.Errorf("load PHIWATCH_MIGRATE = %v, want false (migrate ran)", v)
	}
}

// TestRoleEnvironmentIsRealFlags: a PHIWATCH_* variable a role does not have
// as a flag is silently ignored by it, so every one is checked against the
// command's flag set.
func TestRoleEnvironmentIsRealFlags(t *testing.T) {
	p := project(t)
	for name, role := range roles {
		flags, err := phiwatch.FlagNames(role)
		if err != nil {
			t.Fatal(err)
		}
		env := p.Services[name].Environment
		if len(env) == 0 {
			t.Errorf("%s has no environment", name)
		}
		for k, v := range env {
			if !strings.HasPrefix(k, "PHIWATCH_") {
				t.Errorf("%s sets %s: roles read only PHIWATCH_* variables", name, k)
				continue
			}
			flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, "PHIWATCH_"), "_", "-"))
			if !slices.Contains(flags, flag) {
				t.Errorf("%s sets %s, but `phiwatch %s` has no --%s flag", name, k, role, flag)
			}
			if v == nil {
				t.Errorf("%s: %s has no value", name, k)
			}
		}
		if role != "ingest" {
			if s := env["PHIWATCH_STORE"]; s == nil || !strings.HasPrefix(*s, "clickhouse://phiwatch:test-password@clickhouse:9000/phiwatch") {
				t.Errorf("%s store %v, want the ClickHouse service", name, s)
			}
		}
	}
	api := p.Services["api"]
	mounted := map[string]bool{}
	for _, s := range api.Secrets {
		mounted["/run/secrets/"+s.Source] = true
		if _, ok := p.Secrets[s.Source]; !ok {
			t.Errorf("api uses undeclared secret %s", s.Source)
		}
	}
	for _, k := range []string{"PHIWATCH_TOKENS_FILE", "PHIWATCH_SESSION_KEY_FILE", "PHIWATCH_OIDC_CLIENT_SECRET_FILE"} {
		if v := api.Environment[k]; v == nil || !mounted[*v] {
			t.Errorf("api %s = %v, want a mounted secret", k, v)
		}
	}
}

// TestListenersMatchChecksAndScrapes: each role's ops listener is where its
// health check and Prometheus look.
func TestListenersMatchChecksAndScrapes(t *testing.T) {
	p := project(t)
	b, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &prom); err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				targets[tg] = true
			}
		}
	}
	for name, role := range roles {
		if role == "migrate" {
			continue
		}
		svc := p.Services[name]
		listen := svc.Environment["PHIWATCH_LISTEN"]
		if listen == nil {
			t.Errorf("%s: no PHIWATCH_LISTEN; the default binds 127.0.0.1, unreachable from Prometheus", name)
			continue
		}
		host, port, err := net.SplitHostPort(*listen)
		if err != nil || host != "0.0.0.0" {
			t.Errorf("%s listens on %q, want 0.0.0.0:PORT inside the container", name, *listen)
			continue
		}
		if !targets[name+":"+port] {
			t.Errorf("prometheus.yml does not scrape %s:%s", name, port)
		}
		if check := strings.Join(svc.HealthCheck.Test, " "); !strings.Contains(check, "http://127.0.0.1:"+port+"/readyz") {
			t.Errorf("%s health check %q does not ask /readyz on port %s", name, check, port)
		}
	}
	mount := ""
	for _, v := range p.Services["prometheus"].Volumes {
		if strings.HasSuffix(v.Source, filepath.Join("dashboards", "prometheus", "alerts.yaml")) {
			mount = v.Target
		}
	}
	if mount == "" {
		t.Fatal("prometheus does not mount dashboards/prometheus/alerts.yaml")
	}
	matched := false
	for _, rf := range prom.RuleFiles {
		if ok, _ := filepath.Match(rf, mount); ok {
			matched = true
		}
	}
	if !matched {
		t.Errorf("rule_files %v do not load %s", prom.RuleFiles, mount)
	}
}

func TestPortsBindLoopbackByDefault(t *testing.T) {
	p := project(t)
	published := map[string][]string{}
	for name, svc := range p.Services {
		for _, port := range svc.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q, want 127.0.0.1 by default", name, port.Published, port.HostIP)
			}
			published[name] = append(published[name], port.Published+"/"+port.Protocol)
		}
	}
	want := map[string][]string{
		"api": {"8080/tcp"}, "grafana": {"3000/tcp"}, "prometheus": {"9090/tcp"}, "clickhouse": {"9000/tcp"},
		"ingest": {"5514/tcp", "5514/udp"},
	}
	for name, ports := range want {
		if got := sortedCopy(published[name]); !slices.Equal(got, ports) {
			t.Errorf("%s publishes %v, want %v", name, got, ports)
		}
	}
	for _, name := range []string{"kafka", "load", "analyze", "migrate"} {
		if len(published[name]) != 0 {
			t.Errorf("%s publishes %v: it needs no port on the host", name, published[name])
		}
	}
}

func TestVolumesAndMountedFiles(t *testing.T) {
	p := project(t)
	for name, svc := range p.Services {
		for _, v := range svc.Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts %s, missing from the repository: %v", name, v.Source, err)
				}
				if !v.ReadOnly {
					t.Errorf("%s mounts %s writable", name, v.Source)
				}
			case types.VolumeTypeVolume:
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("%s uses undeclared volume %s", name, v.Source)
				}
			}
		}
	}
	persistent := map[string]string{"kafka": "/var/lib/kafka/data", "clickhouse": "/var/lib/clickhouse", "prometheus": "/prometheus", "grafana": "/var/lib/grafana"}
	for name, target := range persistent {
		found := false
		for _, v := range p.Services[name].Volumes {
			found = found || (v.Type == types.VolumeTypeVolume && v.Target == target)
		}
		if !found {
			t.Errorf("%s keeps %s in no named volume: its data would not survive a re-create", name, target)
		}
	}
	// Grafana's provisioned dashboards directory is where the provider
	// file points.
	b, err := os.ReadFile("../../dashboards/provisioning/dashboards/phiwatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(b, &prov); err != nil || len(prov.Providers) == 0 {
		t.Fatalf("dashboard provider: %v", err)
	}
	found := false
	for _, v := range p.Services["grafana"].Volumes {
		found = found || (v.Target == prov.Providers[0].Options.Path && strings.HasSuffix(v.Source, filepath.Join("dashboards", "json")))
	}
	if !found {
		t.Errorf("grafana does not mount dashboards/json at %s", prov.Providers[0].Options.Path)
	}
	// The data source file reads these from Grafana's environment.
	ds, err := os.ReadFile("../../dashboards/provisioning/datasources/phiwatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var uncommented []string
	for _, l := range strings.Split(string(ds), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			uncommented = append(uncommented, l)
		}
	}
	for _, m := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(strings.Join(uncommented, "\n"), -1) {
		if v := p.Services["grafana"].Environment[m[1]]; v == nil || *v == "" {
			t.Errorf("grafana does not set %s, which the data source provisioning uses", m[1])
		}
	}
	if v := p.Services["grafana"].Environment["GF_PLUGINS_PREINSTALL"]; v == nil || !strings.Contains(*v, "grafana-clickhouse-datasource") {
		t.Error("grafana does not install the ClickHouse data source plugin")
	}
}

// TestEnvExampleDocumentsEveryVariable: every ${VAR} in compose.yaml has a
// line in .env.example with a comment above it.
func TestEnvExampleDocumentsEveryVariable(t *testing.T) {
	c, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := os.ReadFile(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(e), "\n")
	documented := map[string]bool{}
	for i, l := range lines {
		name, _, ok := strings.Cut(l, "=")
		if !ok || strings.HasPrefix(l, "#") {
			continue
		}
		if i == 0 || !strings.HasPrefix(lines[i-1], "#") {
			t.Errorf(".env.example: %s has no comment above it", name)
		}
		documented[name] = true
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{(\w+)`).FindAllStringSubmatch(string(c), -1) {
		used[m[1]] = true
		if !documented[m[1]] {
			t.Errorf("compose.yaml uses ${%s}, which .env.example does not list", m[1])
		}
	}
	for name := range documented {
		if !used[name] {
			t.Errorf(".env.example lists %s, which compose.yaml does not use", name)
		}
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// TestDockerfile checks what can be checked without a Docker engine: the
// Go image matches go.mod, the binary is static, the final stage runs as a
// non-root user, and the build context leaves out secrets and local data.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if goVersion == nil || !strings.Contains(df, "ARG GO_VERSION="+string(goVersion[1])+"\n") {
		t.Errorf("the Dockerfile's GO_VERSION must be go.mod's go %s", goVersion[1])
	}
	for _, want := range []string{"CGO_ENABLED=0 go build", "-o /out/phiwatch .", `ENTRYPOINT ["/usr/local/bin/phiwatch"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	stages := regexp.MustCompile(`(?m)^FROM .*$`).FindAllString(df, -1)
	users := regexp.MustCompile(`(?m)^USER (\S+)$`).FindAllStringSubmatch(df, -1)
	if len(stages) != 2 || len(users) != 1 || strings.HasPrefix(users[0][1], "0") || users[0][1] == "root" ||
		strings.Index(df, users[0][0]) < strings.Index(df, stages[1]) {
		t.Errorf("want two stages and a non-root USER in the final one: %v %v", stages, users)
	}
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "deploy/compose/secrets/*", "deploy/compose/.env", "phiwatch-data/"} {
		if !slices.Contains(strings.Split(string(ignore), "\n"), want) {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}
}
