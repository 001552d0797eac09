// Package spamdtest starts a real SpamAssassin daemon (Debian's spamd) for a test, listening on a
// free loopback port, offline (-L: no network tests, no rule updates; the rules the package
// ships), as the unprivileged user nobody when the test runs as root. Without spamd the test is
// skipped, or fails when CI=true.
package spamdtest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds how long spamd may take to load its rules and answer PING.
const StartTimeout = 90 * time.Second

// Start runs spamd until the test ends and returns its host:port.
func Start(t testing.TB) string {
	t.Helper()
	bin := lookSpamd(t)
	home, err := os.MkdirTemp("", "letterbox-spamd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	args := []string{
		"-L",                   // local tests only: no DNS blocklists, no network
		"-x",                   // no per-user configuration
		"--listen=127.0.0.1:0", // a free port, read back below
		"--max-children=2", "--min-children=1",
		"--min-spare=1", "--max-spare=1",
		"-H", home, "--pidfile=" + filepath.Join(home, "spamd.pid"),
		"-s", "stderr",
	}
	if os.Geteuid() == 0 {
		args = append(args, asNobody(t, home)...)
	}
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(home, "spamd.log")) // one per spamd: a test may start two
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("spamdtest: start spamd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logf.Close()
	})
	deadline := time.Now().Add(StartTimeout)
	for {
		if addr := listening(cmd.Process.Pid); addr != "" && ping(addr) {
			return addr
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("spamdtest: spamd exited: %s", log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("spamdtest: spamd did not answer within %v: %s", StartTimeout, log)
		}
	}
}

// lookSpamd returns spamd's path; without one it skips t, or fails it when CI=true.
func lookSpamd(t testing.TB) string {
	t.Helper()
	if bin, err := exec.LookPath("spamd"); err == nil {
		return bin
	}
	for _, p := range []string{"/usr/sbin/spamd", "/usr/bin/spamd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("spamd is not installed (apt-get install spamd)")
	}
	t.Skip("spamd is not installed (apt-get install spamd)")
	return ""
}

// asNobody gives home to the user nobody and returns the arguments that make spamd, started as
// root, run as nobody (it refuses to run as root).
func asNobody(t testing.TB, home string) []string {
	t.Helper()
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("spamdtest: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	return []string{"-u", "nobody"}
}

// listening finds the loopback TCP port process pid listens on, from /proc: the socket inodes
// among its open files, matched against the kernel's table of listening sockets.
func listening(pid int) string {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return ""
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st ... inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
			continue
		}
		_, portHex, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err == nil {
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
		}
	}
	return ""
}

// ping reports whether spamd at addr answers PING.
func ping(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING SPAMC/1.5\r\n\r\n")); err != nil {
		return false
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.Contains(line, "PONG")
}
