package custom

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The test binary doubles as the programs command and mcp tools run: with
// AGENT_CUSTOM_HELPER=1 in its environment it acts as argv[1] says.
func TestMain(m *testing.M) {
	if os.Getenv("AGENT_CUSTOM_HELPER") != "1" {
		os.Exit(m.Run())
	}
	helper(os.Args[1], os.Args[2:])
	os.Exit(0)
}

// helperEnv is the environment that makes the test binary a helper.
var helperEnv = "AGENT_CUSTOM_HELPER=1"

func helper(mode string, args []string) {
	switch mode {
	case "args": // the arguments, as JSON
		json.NewEncoder(os.Stdout).Encode(args)
	case "env": // the environment, sorted, as JSON
		env := os.Environ()
		sort.Strings(env)
		json.NewEncoder(os.Stdout).Encode(env)
	case "stdin":
		b := make([]byte, 1<<16)
		n, _ := os.Stdin.Read(b)
		fmt.Print(strings.ToUpper(string(b[:n])))
	case "exit":
		code, _ := strconv.Atoi(args[0])
		fmt.Println("partial output")
		fmt.Fprintln(os.Stderr, "something went wrong")
		os.Exit(code)
	case "flood":
		os.Stdout.Write([]byte(strings.Repeat("x", 1<<20)))
	case "hang": // start a child that also hangs, record its pid in args[0], hang
		child := exec.Command(os.Args[0], "sleep")
		child.Env = []string{helperEnv}
		if err := child.Start(); err != nil {
			panic(err)
		}
		os.WriteFile(args[0], []byte(strconv.Itoa(child.Process.Pid)), 0o644)
		fmt.Println("started")
		select {}
	case "daemons": // leave three processes behind, write their pids to args[0], then args[1]: exit or hang
		pids := []int{start(false), orphan(), start(true)}
		os.WriteFile(args[0], []byte(strings.Trim(fmt.Sprint(pids), "[]")), 0o644)
		if args[1] == "hang" {
			select {}
		}
	case "orphan": // start a setsid sleeper, print its pid and exit
		fmt.Println(start(true))
	case "sleep":
		signal.Ignore() // only SIGKILL ends it
		time.Sleep(time.Hour)
	case "mcp":
		serveMCP()
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		os.Exit(2)
	}
}

// orphan returns the pid of a setsid sleeper whose parent has exited.
func orphan() int {
	c := exec.Command(os.Args[0], "orphan")
	c.Env = []string{helperEnv}
	out, err := c.Output()
	if err != nil {
		panic(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		panic(err)
	}
	return pid
}

type defineIn struct {
	Word string `json:"word" jsonschema:"the word to define"`
}

type addIn struct {
	A int `json:"a"`
	B int `json:"b"`
}

func serveMCP() {
	s := mcp.NewServer(&mcp.Implementation{Name: "test-dictionary", Version: "1.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "define", Description: "Defines\n  a word."},
		func(_ context.Context, _ *mcp.CallToolRequest, in defineIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "definition of " + in.Word}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Adds two numbers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strconv.Itoa(in.A + in.B)}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Always fails."},
		func(_ context.Context, _ *mcp.CallToolRequest, in defineIn) (*mcp.CallToolResult, any, error) {
			return nil, nil, fmt.Errorf("no such word: %s", in.Word)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "spawn", Description: "Starts a setsid sleeper and gives its pid."},
		func(_ context.Context, _ *mcp.CallToolRequest, in defineIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strconv.Itoa(start(true))}}}, nil, nil
		})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// exe is the test binary, quoted for YAML.
func exe(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	return string(b)
}
