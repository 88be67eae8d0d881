//go:build unix

package local

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/api"
)

func TestProcessPodRestartsAndKeepsItsLogs(t *testing.T) {
	sidecar := func(_ context.Context, _ PodInfo) (Sidecar, error) {
		return Sidecar{ProxyURL: "http://sidecar.test:15001"}, nil
	}
	r, _ := startRunner(t, Options{Sidecar: sidecar})
	script := `echo "start ip=$POD_IP proxy=$HTTP_PROXY app=$app"; echo oops >&2; exit 3`
	if err := r.Apply([]*api.Deployment{processDeployment("crasher", script, api.EnvVar{Name: "app", Value: "x"})}); err != nil {
		t.Fatal(err)
	}
	pods := waitPods(t, r, "a restart and the second run's output", func(pods []Pod) bool {
		logs, _ := r.Logs("default", "crasher-0")
		return len(pods) == 1 && pods[0].Restarts >= 1 && bytes.Count(logs, []byte("oops")) >= 2
	})
	logs, _ := r.Logs("default", "crasher-0")
	want := "start ip=" + pods[0].IP + " proxy=http://sidecar.test:15001 app=x\noops\n"
	if !strings.HasPrefix(string(logs), want+want) {
		t.Errorf("logs = %q, want two runs of %q", logs, want)
	}
	if exit := pods[0].LastExit; !strings.Contains(exit, "exit status 3") {
		t.Errorf("LastExit = %q, want it to name the exit status", exit)
	}
}

func TestRunCancelLeavesNoProcessBehind(t *testing.T) {
	r, stop := startRunner(t, Options{GracePeriod: 300 * time.Millisecond})
	const report = `sleep 300 & echo "child=$! shell=$$"; wait`
	err := r.Apply([]*api.Deployment{
		processDeployment("polite", report),
		// Ignores SIGTERM, and so does its child: only SIGKILL ends them.
		processDeployment("stubborn", `trap "" TERM; `+report),
	})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, pod := range []string{"polite-0", "stubborn-0"} {
		pids = append(pids, waitForPids(t, r, pod)...)
	}
	began := time.Now()
	stop()
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("stopping took %v with a 300ms grace period", d)
	}
	// SIGKILL is final but not instant: a killed process still has to be
	// scheduled to die, so each gets a moment.
	for _, pid := range pids {
		deadline := time.Now().Add(5 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // polling interval
		}
		if alive(pid) {
			t.Errorf("process %d outlived Run", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

var pidLine = regexp.MustCompile(`child=(\d+) shell=(\d+)`)

// waitForPids waits for a pod's "child=… shell=…" line and returns both pids.
func waitForPids(t *testing.T, r *Runner, pod string) []int {
	t.Helper()
	var m [][]byte
	waitPods(t, r, pod+" reporting its pids", func([]Pod) bool {
		logs, _ := r.Logs("default", pod)
		m = pidLine.FindSubmatch(logs)
		return m != nil
	})
	child, _ := strconv.Atoi(string(m[1]))
	shell, _ := strconv.Atoi(string(m[2]))
	return []int{child, shell}
}

// alive reports whether pid is a live process. A zombie is dead: an orphan
// is reaped by init, which in a container may never get to it.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err == nil {
		// The state follows the command name in parentheses.
		i := bytes.LastIndexByte(stat, ')')
		return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
	}
	if _, procErr := os.Stat("/proc/self"); os.IsNotExist(err) && procErr == nil {
		return false // Linux, and no such process
	}
	return syscall.Kill(pid, 0) == nil // no /proc: zombies count as alive
}
