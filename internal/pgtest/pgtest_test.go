package pgtest

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestDatabase(t *testing.T) {
	u := Database(t)
	c, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var name string
	if err := c.QueryRow(context.Background(), "SELECT current_database()").Scan(&name); err != nil || name == "postgres" {
		t.Fatalf("current database %q, %v", name, err)
	}
}

// TestWithoutServer runs a test that needs PostgreSQL in a child process without
// LETTERBOX_TEST_POSTGRES: it is skipped with the line saying how to run it, and under CI=true
// it fails.
func TestWithoutServer(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		Database(t)
		return
	}
	run := func(ci string) string {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestWithoutServer$", "-test.v")
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, EnvVar+"=") || strings.HasPrefix(kv, "CI=")
		}), "PGTEST_CHILD=1", "CI="+ci)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if out := run(""); !strings.Contains(out, "--- SKIP") || strings.Count(out, how) != 1 {
		t.Errorf("without the server and CI: want one skip line %q, got\n%s", how, out)
	}
	if out := run("true"); !strings.Contains(out, "--- FAIL") || !strings.Contains(out, EnvVar+" is not set") {
		t.Errorf("without the server under CI=true: want a failure, got\n%s", out)
	}
}
