package testenv_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	_ "github.com/lib/pq"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/opsflow/opsflow/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestDatabaseIsFreshAndOurs(t *testing.T) {
	db, err := sql.Open("postgres", testenv.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	var tables int
	if err := db.QueryRow(`SELECT current_database(), (SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public')`).Scan(&name, &tables); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "opsflow_test_testenv_") || tables != 0 {
		t.Fatalf("database %q with %d tables, want a fresh opsflow_test_testenv_* one", name, tables)
	}
}

func TestTemporalHasNamespaceAndSearchAttributes(t *testing.T) {
	c, err := client.Dial(client.Options{HostPort: testenv.TemporalAddress(), Namespace: testenv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.OperatorService().ListSearchAttributes(context.Background(),
		&operatorservice.ListSearchAttributesRequest{Namespace: testenv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	for name := range testenv.SearchAttributes {
		if _, ok := resp.GetCustomAttributes()[name]; !ok {
			t.Errorf("search attribute %s not registered", name)
		}
	}
}
