package bwredis_test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// child is a run of this test binary, as another process of a fleet, that
// its test drives by lines on its standard input and reads by lines on its
// standard output.
type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// startChildren starts n runs of this test binary running only test, the
// i-th with env(i) added to the environment. Each line a child prints is
// given to event, if it takes it, or kept for reply. They are killed when
// the test ends, if still running.
func startChildren(t *testing.T, n int, test string, env func(i int) []string, event func(i int, line string) bool) []*child {
	t.Helper()
	var cs []*child
	for i := range n {
		cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
		cmd.Env = append(os.Environ(), env(i)...)
		cmd.Stderr = os.Stderr
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c := &child{t: t, cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
		go func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				if event == nil || !event(i, sc.Text()) {
					c.lines <- sc.Text()
				}
			}
			close(c.lines)
		}()
		cs = append(cs, c)
	}
	t.Cleanup(func() {
		for _, c := range cs {
			if c.cmd.ProcessState == nil {
				c.cmd.Process.Kill()
				c.cmd.Wait()
			}
		}
	})
	return cs
}

// send writes a command line to the child.
func (c *child) send(cmd string) { io.WriteString(c.stdin, cmd+"\n") }

// reply returns the child's next line.
func (c *child) reply() string {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatal("a child process ended early")
		}
		return l
	case <-time.After(20 * time.Second):
		c.t.Fatal("a child process does not answer")
	}
	return ""
}

// ask sends cmd to every child and returns their replies.
func ask(cs []*child, cmd string) []string {
	for _, c := range cs {
		c.send(cmd)
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.reply()
	}
	return out
}
