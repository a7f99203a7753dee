package composecheck

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/opsflow/opsflow/internal/config"
	"github.com/opsflow/opsflow/internal/deploy"
)

const composeFile = "../../docker-compose.yml"

func load(t *testing.T) *types.Project {
	t.Helper()
	// No OS environment: the file must work on its defaults alone, and the
	// test must not depend on the shell it runs in.
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithWorkingDirectory("../.."),
		cli.WithEnv(nil),
		// Every service, the observability profile's too.
		cli.WithProfiles([]string{"*"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load %s: %v", composeFile, err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("service %s: %v", name, err)
	}
	return s
}

func TestServicesExist(t *testing.T) {
	p := load(t)
	for _, name := range []string{"postgres", "temporal-schema", "temporal", "temporal-setup", "temporal-ui", "migrate", "api", "worker", "prometheus", "grafana"} {
		service(t, p, name)
	}
}

func TestAPIPublishes8080(t *testing.T) {
	api := service(t, load(t), "api")
	for _, port := range api.Ports {
		if port.Target == 8080 && port.Published == "8080" {
			return
		}
	}
	t.Fatalf("api does not publish 8080:8080: %+v", api.Ports)
}

// TestEnvironmentUsesSettings keeps compose in step with internal/config: a
// renamed or misspelt variable would otherwise be silently ignored and the
// service would run on its default.
func TestEnvironmentUsesSettings(t *testing.T) {
	known := map[string]bool{}
	for _, s := range config.Settings {
		known[s.Env] = true
	}
	p := load(t)
	for _, name := range []string{"api", "worker", "migrate", "temporal-setup"} {
		env := service(t, p, name).Environment
		for key, val := range env {
			if !known[key] {
				t.Errorf("%s: environment %s is not a config.Settings variable", name, key)
			}
			if val == nil || *val == "" {
				t.Errorf("%s: environment %s has no value", name, key)
			}
		}
		var required []string
		if name != "temporal-setup" {
			required = append(required, "DATABASE_URL")
		}
		if name != "migrate" {
			required = append(required, "TEMPORAL_ADDRESS")
		}
		for _, key := range required {
			if _, ok := env[key]; !ok {
				t.Errorf("%s: %s not set", name, key)
			}
		}
	}
	// The opsflow services reach their dependencies by service name.
	api := service(t, p, "api").Environment
	if !strings.Contains(*api["DATABASE_URL"], "@postgres:5432/") {
		t.Errorf("api DATABASE_URL %q does not point at the postgres service", *api["DATABASE_URL"])
	}
	if *api["TEMPORAL_ADDRESS"] != "temporal:7233" {
		t.Errorf("api TEMPORAL_ADDRESS = %q", *api["TEMPORAL_ADDRESS"])
	}
}

func TestDependsOn(t *testing.T) {
	p := load(t)
	want := map[string]map[string]string{
		"temporal-schema": {"postgres": types.ServiceConditionHealthy},
		"temporal":        {"temporal-schema": types.ServiceConditionCompletedSuccessfully},
		"temporal-ui":     {"temporal": types.ServiceConditionHealthy},
		"migrate":         {"postgres": types.ServiceConditionHealthy},
		"api": {
			"migrate":  types.ServiceConditionCompletedSuccessfully,
			"temporal": types.ServiceConditionHealthy,
		},
		"worker": {
			"migrate":  types.ServiceConditionCompletedSuccessfully,
			"temporal": types.ServiceConditionHealthy,
		},
	}
	for svc, deps := range want {
		got := service(t, p, svc).DependsOn
		for dep, cond := range deps {
			d, ok := got[dep]
			if !ok {
				t.Errorf("%s does not depend on %s", svc, dep)
				continue
			}
			if d.Condition != cond {
				t.Errorf("%s depends on %s with condition %q, want %q", svc, dep, d.Condition, cond)
			}
		}
	}
}

func TestHealthchecks(t *testing.T) {
	p := load(t)
	for _, name := range []string{"postgres", "temporal", "api", "worker"} {
		hc := service(t, p, name).HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) == 0 || slices.Equal(hc.Test, types.HealthCheckTest{"NONE"}) {
			t.Errorf("%s has no healthcheck", name)
		}
	}
	if hc := service(t, p, "postgres").HealthCheck; hc != nil && !strings.Contains(strings.Join(hc.Test, " "), "pg_isready") {
		t.Errorf("postgres healthcheck %v does not use pg_isready", hc.Test)
	}
}

// TestOneShotsDoNotRestart: migrate must run to completion once, or the
// services waiting for service_completed_successfully never start.
func TestOneShotsDoNotRestart(t *testing.T) {
	p := load(t)
	for _, name := range []string{"migrate", "temporal-schema", "temporal-setup"} {
		if r := service(t, p, name).Restart; r != "" && r != types.RestartPolicyNo {
			t.Errorf("%s restart = %q, want \"no\"", name, r)
		}
	}
}

// The Temporal services run what TestProduction ran: the image built from
// tools/temporal-server (whose go.mod pins deploy's server version), with
// deploy's persistence, databases and shards, its schema made by
// setup-schema.sh before the server starts.
func TestTemporalIsWhatRan(t *testing.T) {
	p := load(t)
	temporal, schema := service(t, p, "temporal"), service(t, p, "temporal-schema")
	for _, s := range []types.ServiceConfig{temporal, schema} {
		if want := "opsflow-temporal:" + deploy.TemporalServerVersion; s.Image != want {
			t.Errorf("%s image %q, want %q", s.Name, s.Image, want)
		}
		if s.Build == nil || filepath.Base(s.Build.Context) != "temporal-server" || filepath.Base(filepath.Dir(s.Build.Context)) != "tools" {
			t.Errorf("%s is not built from tools/temporal-server: %+v", s.Name, s.Build)
		}
	}
	want := map[string]string{
		"DB":                 deploy.PersistencePlugin,
		"NUM_HISTORY_SHARDS": strconv.Itoa(deploy.HistoryShards),
		"DBNAME":             deploy.TemporalDatabase,
		"VISIBILITY_DBNAME":  deploy.VisibilityDatabase,
		"POSTGRES_SEEDS":     "postgres",
	}
	for k, v := range want {
		if got := env(temporal, k); got != v {
			t.Errorf("temporal %s = %q, want %q (internal/deploy)", k, got, v)
		}
	}
	// The schema tool must create and upgrade the databases the server uses.
	for _, k := range []string{"DB", "DB_PORT", "POSTGRES_SEEDS", "POSTGRES_USER", "POSTGRES_PWD", "DBNAME", "VISIBILITY_DBNAME"} {
		if env(schema, k) != env(temporal, k) {
			t.Errorf("temporal-schema %s = %q but temporal has %q", k, env(schema, k), env(temporal, k))
		}
	}
	if !slices.Equal(schema.Command, types.ShellCommand{"setup-schema.sh"}) || schema.Restart != types.RestartPolicyNo {
		t.Errorf("temporal-schema runs %v (restart %q), want setup-schema.sh once", schema.Command, schema.Restart)
	}
	dependsOn(t, temporal, "temporal-schema", types.ServiceConditionCompletedSuccessfully)
	dependsOn(t, service(t, p, "temporal-setup"), "temporal", types.ServiceConditionHealthy)

	hc := temporal.HealthCheck
	wantHC := types.HealthCheckTest{"CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:7243" + deploy.TemporalHealthPath}
	if hc == nil || !slices.Equal(hc.Test, wantHC) {
		t.Errorf("temporal healthcheck %v, want %v (TestProduction asks the same path)", hc, wantHC)
	}

	gomod := readFile(t, "../../tools/temporal-server/go.mod")
	if !regexp.MustCompile(`(?m)^\s*go\.temporal\.io/server v` + regexp.QuoteMeta(deploy.TemporalServerVersion) + `\b`).MatchString(gomod) {
		t.Errorf("tools/temporal-server/go.mod does not require go.temporal.io/server v%s", deploy.TemporalServerVersion)
	}
	// The image has what the services call: the scripts, the dynamic
	// configuration at the template's default path, and Alpine's busybox
	// wget for the health check.
	df := readFile(t, "../../tools/temporal-server/Dockerfile")
	for _, w := range []string{
		"COPY --chmod=755 entrypoint.sh setup-schema.sh /usr/local/bin/",
		"COPY dynamicconfig.yaml /etc/temporal/config/dynamicconfig/docker.yaml",
		"go.temporal.io/server/cmd/server", "go.temporal.io/server/cmd/tools/sql",
	} {
		if !strings.Contains(df, w) {
			t.Errorf("tools/temporal-server/Dockerfile lacks %q", w)
		}
	}
	if froms := fromLines(df); len(froms) == 0 || !strings.HasPrefix(froms[len(froms)-1], "alpine:") {
		t.Errorf("tools/temporal-server/Dockerfile's final stage is %v, want alpine (busybox wget for the health check)", froms)
	}
}

// The namespace and its retention come from temporal-setup with deploy's
// values, and opsflow's processes use that namespace.
func TestNamespaceAndRetention(t *testing.T) {
	p := load(t)
	setup := service(t, p, "temporal-setup")
	if !slices.Equal(setup.Command, types.ShellCommand{"temporal-setup"}) || setup.Restart != types.RestartPolicyNo {
		t.Errorf("temporal-setup runs %v (restart %q), want opsflow temporal-setup once", setup.Command, setup.Restart)
	}
	if r, err := time.ParseDuration(env(setup, "OPSFLOW_TEMPORAL_RETENTION")); err != nil || r != deploy.Retention {
		t.Errorf("temporal-setup OPSFLOW_TEMPORAL_RETENTION %q, want %s (%v)", env(setup, "OPSFLOW_TEMPORAL_RETENTION"), deploy.Retention, err)
	}
	for _, name := range []string{"temporal-setup", "api", "worker"} {
		if got := env(service(t, p, name), "TEMPORAL_NAMESPACE"); got != deploy.Namespace {
			t.Errorf("%s TEMPORAL_NAMESPACE %q, want %q", name, got, deploy.Namespace)
		}
	}
	for _, name := range []string{"api", "worker"} {
		dependsOn(t, service(t, p, name), "temporal-setup", types.ServiceConditionCompletedSuccessfully)
	}
}

// api and worker run with the same settings (the API adds only its listen
// address), and both serve metrics.
func TestAPIAndWorkerShareEnvironment(t *testing.T) {
	p := load(t)
	api, worker := service(t, p, "api").Environment, service(t, p, "worker").Environment
	for k, v := range worker {
		if a, ok := api[k]; !ok || *a != *v {
			t.Errorf("worker %s=%q but api has %v", k, *v, a)
		}
	}
	for k := range api {
		if _, ok := worker[k]; !ok && k != "OPSFLOW_HTTP_ADDR" {
			t.Errorf("api sets %s, worker does not", k)
		}
	}
	if v := worker["OPSFLOW_METRICS_ADDR"]; v == nil || *v == "" {
		t.Error("worker serves no metrics (OPSFLOW_METRICS_ADDR)")
	}
}

// The opsflow health checks call `opsflow healthcheck`, and the binary the
// Dockerfile builds has that command and it works: built here the same
// way, run against a server that answers 200 and one that answers 503.
func TestOpsflowHealthchecksRun(t *testing.T) {
	p := load(t)
	for _, name := range []string{"api", "worker"} {
		hc := service(t, p, name).HealthCheck
		if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "opsflow" || hc.Test[2] != "healthcheck" {
			t.Fatalf("%s healthcheck %v, want CMD opsflow healthcheck …", name, hc)
		}
	}
	df := readFile(t, "../../Dockerfile")
	if !strings.Contains(df, "/usr/local/bin/opsflow") {
		t.Fatal("the Dockerfile does not install opsflow at /usr/local/bin/opsflow")
	}
	bin := filepath.Join(t.TempDir(), "opsflow")
	build := exec.Command("go", "build", "-o", bin, "./cmd/opsflow")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/opsflow: %v\n%s", err, out)
	}
	for _, c := range []struct {
		status int
		ok     bool
	}{{http.StatusOK, true}, {http.StatusServiceUnavailable, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(c.status) }))
		err := exec.Command(bin, "healthcheck", "--url", srv.URL+"/healthz").Run()
		srv.Close()
		if (err == nil) != c.ok {
			t.Errorf("opsflow healthcheck against %d: err %v, want ok=%v", c.status, err, c.ok)
		}
	}
}

// Every image pulled is pinned to a version (never latest, never a bare
// major), and so is every base image of the Dockerfiles; opsflow:local is
// what `--build` makes of this checkout.
func TestImagesPinned(t *testing.T) {
	pinned := regexp.MustCompile(`:v?\d+\.\d+(\.\d+)?([.-][a-z0-9.]+)?$`)
	for _, s := range load(t).AllServices() {
		if s.Build != nil && s.Image == "opsflow:local" {
			continue
		}
		if !pinned.MatchString(s.Image) {
			t.Errorf("%s image %q is not pinned to a version", s.Name, s.Image)
		}
	}
	full := regexp.MustCompile(`:\d+\.\d+\.\d+(-[a-z]+)?$`)
	for _, f := range []string{"../../Dockerfile", "../../tools/temporal-server/Dockerfile"} {
		for _, from := range fromLines(readFile(t, f)) {
			if !full.MatchString(from) {
				t.Errorf("%s: FROM %s is not pinned to a full version", f, from)
			}
		}
	}
}

// The observability profile loads the repository's rules, scrape
// configuration and dashboard.
func TestObservabilityMounts(t *testing.T) {
	p := load(t)
	want := map[string][]string{
		"prometheus": {"observability/prometheus.yml", "observability/alerts.yml"},
		"grafana":    {"observability/grafana/provisioning", "observability/grafana/opsflow.json"},
	}
	for name, files := range want {
		s := service(t, p, name)
		for _, f := range files {
			found := false
			for _, v := range s.Volumes {
				found = found || strings.HasSuffix(v.Source, f)
			}
			if !found {
				t.Errorf("%s does not mount %s", name, f)
			}
			if _, err := os.Stat(filepath.Join("../..", f)); err != nil {
				t.Errorf("%s mounts %s: %v", name, f, err)
			}
		}
	}
}

func env(s types.ServiceConfig, key string) string {
	if v := s.Environment[key]; v != nil {
		return *v
	}
	return ""
}

func dependsOn(t *testing.T, s types.ServiceConfig, dep, cond string) {
	t.Helper()
	if d, ok := s.DependsOn[dep]; !ok || d.Condition != cond {
		t.Errorf("%s depends on %s with %+v, want condition %s", s.Name, dep, d, cond)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fromLines returns the images of a Dockerfile's FROM lines, in order.
func fromLines(dockerfile string) []string {
	var out []string
	for _, line := range strings.Split(dockerfile, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			out = append(out, f[1])
		}
	}
	return out
}
