// Package cli holds lanemesh's subcommands. Each is built by a function
// taking its streams, so tests run them with (args, stdin, stdout, stderr)
// and no globals.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes shared by every subcommand.
const (
	ExitOK     = 0
	ExitFailed = 1 // the command ran and the answer is "no" (errors found, request would fail)
	ExitUsage  = 2 // bad flags or arguments, unreadable input
)

// exitError carries an exit code through cobra; its message, if any, has
// already been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// usageError marks an error as the user's invocation being wrong.
type usageError struct{ error }

// Main runs lanemesh with args and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return mainAt(time.Now, args, stdin, stdout, stderr)
}

// mainAt is Main with the clock of the commands that print ages.
func mainAt(now func() time.Time, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// Long-running commands (up, proxy, controlplane, mock) stop cleanly on
	// Ctrl-C and SIGTERM through this context; a command reading -f - stops
	// reading.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(interruptible{ctx, stdin}, stdout, stderr, now)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "lanemesh:", err)
		return ExitUsage
	default:
		// Cobra's own errors (unknown flag, missing argument) are usage.
		fmt.Fprintln(stderr, "lanemesh:", err)
		return ExitUsage
	}
}

// interruptible is a reader that gives up when ctx ends: a read of a
// terminal or a pipe blocks in the kernel, out of reach of the signal that
// ended ctx, so each read waits beside it. It is for the configuration a
// command reads from stdin, small enough that a goroutine and a copy per
// read cost nothing that matters.
type interruptible struct {
	ctx context.Context
	r   io.Reader
}

func (in interruptible) Read(p []byte) (int, error) {
	if err := in.ctx.Err(); err != nil {
		return 0, fmt.Errorf("interrupted: %w", err)
	}
	type result struct {
		n   int
		err error
	}
	buf, done := make([]byte, len(p)), make(chan result, 1)
	go func() {
		n, err := in.r.Read(buf)
		done <- result{n, err}
	}()
	select {
	case res := <-done:
		return copy(p, buf[:res.n]), res.err
	case <-in.ctx.Done():
		return 0, fmt.Errorf("interrupted: %w", in.ctx.Err())
	}
}

// newRoot builds the command tree. now is the clock of the commands that
// print ages (get, describe), so that their tests are deterministic.
func newRoot(stdin io.Reader, stdout, stderr io.Writer, now func() time.Time) *cobra.Command {
	root := &cobra.Command{
		Use:   "lanemesh",
		Short: "lanemesh isolates versioned call chains into traffic lanes",
		Long: `lanemesh is a service mesh for traffic lanes: a request that enters lane v2
(chosen at the ingress gateway by a header such as x-asm-prefer-tag: v2) stays
on v2 services end to end, and falls back to a designated version when a
lane's version of a service is unavailable. It reads Istio's DestinationRule,
VirtualService and Gateway YAML with Alibaba Cloud Service Mesh's fallback.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newAnalyze(stdin, stdout, stderr), newExplain(stdin, stdout, stderr), newVerify(stdout, stderr),
		newChange("apply", stdin, stdout, stderr), newChange("delete", stdin, stdout, stderr),
		newGet(stdout, now), newDescribe(stdout, now), newScale(stdout), newLogs(stdout),
		newVersion(stdout), newProxyStatus(stdout), newProxyConfig(stdout), newTop(stdout, stderr), newMock(stderr), newUp(stdout, stderr),
		newProxy(stdin, stdout, stderr), newControlPlane(stdout, stderr), newNode(stdout, stderr), newInstall(stdout),
		newDashboard(stdout, stderr),
	)
	root.AddCommand(newIPTables(stdout))
	return root
}
