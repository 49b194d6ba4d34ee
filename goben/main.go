// Command goben is iroko_gym's traffic generator: a server that sinks TCP and UDP flows and a
// client that starts flows from a schedule file and records per-flow completion times.
//
// See docs/goben.md in the repository for the protocol, the CLI and the record formats.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
)

// version is printed by `goben --version`; bump it when the CLI, the wire protocol or a record
// format changes.
const version = "0.1.0"

const topUsage = `goben: traffic generator for iroko_gym (TCP/UDP flows, pacing, completion records)

Usage:
  goben server --port PORT [--bind IP] [--records FILE]
  goben client --schedule FILE --records FILE [--src-name NAME] [--duration-s X]
               [--rate-mbps R] [--payload-bytes N]
  goben --version
  goben [server|client] --help

Exit status: 0 on success (also after SIGTERM/SIGINT), 1 on a runtime error or a bad
schedule, 2 on bad flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches the sub-command and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		fmt.Fprintln(stderr, "goben: missing sub-command (server or client)")
		return 2
	}
	switch args[0] {
	case "server":
		return serverMain(args[1:], stdout, stderr)
	case "client":
		return clientMain(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, topUsage)
		return 0
	case "-version", "--version", "version":
		fmt.Fprintf(stdout, "goben %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	default:
		fmt.Fprint(stderr, topUsage)
		fmt.Fprintf(stderr, "goben: unknown sub-command %q (want server or client)\n", args[0])
		return 2
	}
}

// parseFlags parses a sub-command's flags. --help prints the usage on stdout (exit 0); a bad
// flag prints flag's message and a hint on stderr (exit 2). ok is false when the caller must
// return code.
func parseFlags(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below, to the right stream
	err := fs.Parse(args)
	if err == nil {
		return 0, true
	}
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fmt.Fprint(stdout, usage)
		fs.PrintDefaults()
		return 0, false
	}
	fmt.Fprintf(stderr, "(see %s --help)\n", fs.Name())
	return 2, false
}
