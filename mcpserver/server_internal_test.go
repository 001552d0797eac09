package mcpserver

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestSDKLoggerKeepsWarningsOnly(t *testing.T) {
	var buf bytes.Buffer
	l := sdkLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "mcp"))
	l.Info("server session connected")
	l.WithGroup("g").Debug("noise")
	l.Warn("something odd", "k", 1)
	if got := buf.String(); strings.Contains(got, "connected") || strings.Contains(got, "noise") || !strings.Contains(got, "something odd") || !strings.Contains(got, "component=mcp") {
		t.Errorf("logged %q", got)
	}
}
