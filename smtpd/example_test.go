package smtpd_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"log/slog"
	"net"
	"time"

	"github.com/letterbox-mail/letterbox/smtpd"
	"github.com/letterbox-mail/letterbox/store"
)

// Example shows how a command wires the server: a store, one plain listener (STARTTLS offered),
// an implicit-TLS listener sharing the certificate, and a graceful shutdown.
func Example() {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Path: "letterbox.db"})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// One certificate for SMTP, POP3 and IMAP; leave TLSConfig nil to let smtpd make its own.
	cert, err := smtpd.GenerateCertificate("mail.local", "localhost", "127.0.0.1", "::1")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := smtpd.New(st, smtpd.Options{
		Hostname:  "mail.local",
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		Logger:    slog.Default(),
	})
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:1025")
	if err != nil {
		log.Fatal(err)
	}
	ls, err := net.Listen("tcp", "127.0.0.1:1465")
	if err != nil {
		log.Fatal(err)
	}
	go srv.ServeTLS(ls) // or srv.Serve(tls.NewListener(ls, config))
	go func() {
		if err := srv.Serve(l); !errors.Is(err, smtpd.ErrServerClosed) {
			log.Print(err)
		}
	}()

	// On SIGINT/SIGTERM: let messages in flight finish for a few seconds, then close.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Print(err)
	}
}
