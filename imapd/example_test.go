package imapd_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"log/slog"
	"net"
	"time"

	"github.com/letterbox-mail/letterbox/imapd"
	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/store"
)

// Example shows how a command wires the server: the store, the TLS configuration SMTP uses (for
// STARTTLS), an optional htpasswd file, a plain listener and an implicit-TLS one (IMAPS), and a
// graceful shutdown.
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
	srv, err := imapd.New(imapd.Options{
		Store:     st,
		TLSConfig: tlsConfig, // offers STARTTLS
		AuthFile:  "",        // an htpasswd (bcrypt) file, or "" to accept any login
		Logger:    slog.Default(),
	})
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:1143")
	if err != nil {
		log.Fatal(err)
	}
	ls, err := net.Listen("tcp", "127.0.0.1:1993")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(tls.NewListener(ls, tlsConfig)) // IMAPS: STARTTLS is not offered there
	go func() {
		if err := srv.Serve(l); !errors.Is(err, imapd.ErrServerClosed) {
			log.Print(err)
		}
	}()

	// On SIGINT/SIGTERM: every client is told BYE (after the response being written, if any);
	// after a few seconds whatever is left is closed.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Print(err)
	}
}
