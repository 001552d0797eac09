package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/letterbox-mail/letterbox/internal/pgtest"
	"github.com/letterbox-mail/letterbox/store"
	"github.com/letterbox-mail/letterbox/store/postgres"
)

func TestSQLite(t *testing.T) {
	Run(t, func(t *testing.T) Opener {
		path := filepath.Join(t.TempDir(), "letterbox.db")
		return func(opts store.Options) (store.Engine, error) {
			opts.Path = path
			return store.Open(context.Background(), opts)
		}
	})
}

func TestPostgres(t *testing.T) {
	pgtest.Server(t)
	Run(t, func(t *testing.T) Opener {
		url := pgtest.Database(t)
		return func(opts store.Options) (store.Engine, error) {
			return postgres.Open(context.Background(), url, opts)
		}
	})
}
