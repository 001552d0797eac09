package pop3d_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"log/slog"
	"net"
	"time"

	"github.com/letterbox-mail/letterbox/pop3d"
	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/store"
)

// Example shows how a command wires the server: the store, the TLS configuration SMTP uses
// (for STLS), an optional htpasswd file, a plain listener and an implicit-TLS one (POP3S), and
// a graceful shutdown.
func Example() {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Path: "letterbox.db"})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	cert, err := smtpd.GenerateCertificate("mail.local", "localhost", "127.0.0.1", "::1")
	if err != nil {
		log.Fatal(err)
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	srv, err := pop3d.New(st, pop3d.Options{
		Hostname:  "mail.local",
		TLSConfig: tlsConfig, // offers STLS
		AuthFile:  "",        // an htpasswd (bcrypt) file, or "" to accept any login
		Logger:    slog.Default(),
	})
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:1110")
	if err != nil {
		log.Fatal(err)
	}
	ls, err := net.Listen("tcp", "127.0.0.1:1995")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(tls.NewListener(ls, tlsConfig)) // POP3S
	go func() {
		if err := srv.Serve(l); !errors.Is(err, pop3d.ErrServerClosed) {
			log.Print(err)
		}
	}()

	// On SIGINT/SIGTERM: idle sessions end at once (deleting nothing), commands in progress
	// finish; after a few seconds the rest are closed.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Print(err)
	}
}
