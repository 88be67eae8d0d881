//go:build !unix

package local

import (
	"os/exec"
	"time"
)

// inGroup is a stand-in where there are no Unix process groups: cancelling
// cmd kills the process itself at once (exec's default), not its children.
func inGroup(cmd *exec.Cmd, _ time.Duration) {}

func killGroup(int) {}
