package composecheck

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/opsflow/opsflow/internal/config"
)

const composeFile = "../../docker-compose.yml"

func load(t *testing.T) *types.Project {
	t.Helper()
	// No OS environment: the file must work on its defaults alone, and the
	// test must not depend on the shell it runs in.
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithWorkingDirectory("../.."),
		cli.WithEnv(nil),
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
	for _, name := range []string{"postgres", "temporal", "temporal-ui", "migrate", "api", "worker"} {
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
	for _, name := range []string{"api", "worker", "migrate"} {
		env := service(t, p, name).Environment
		for key, val := range env {
			if !known[key] {
				t.Errorf("%s: environment %s is not a config.Settings variable", name, key)
			}
			if val == nil || *val == "" {
				t.Errorf("%s: environment %s has no value", name, key)
			}
		}
		required := []string{"DATABASE_URL"}
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
		"temporal":    {"postgres": types.ServiceConditionHealthy},
		"temporal-ui": {"temporal": types.ServiceConditionHealthy},
		"migrate":     {"postgres": types.ServiceConditionHealthy},
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
	for _, name := range []string{"postgres", "temporal", "api"} {
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
	for _, name := range []string{"migrate", "temporal-setup"} {
		if r := service(t, p, name).Restart; r != "" && r != types.RestartPolicyNo {
			t.Errorf("%s restart = %q, want \"no\"", name, r)
		}
	}
}
