// Command x0tta6bl4 runs and controls an x0tta6bl4 mesh node.
//
// # Usage
//
//	x0tta6bl4 init [--repo DIR] [--profile lan|wan|local]
//	x0tta6bl4 daemon [--repo DIR] [--bootstrap MULTIADDR]... [--listen MULTIADDR]... [--api HOST:PORT]
//	x0tta6bl4 id [--repo DIR] [--json]
//	x0tta6bl4 peers [--repo DIR] [--json]
//	x0tta6bl4 config show [--repo DIR | --profile lan|wan|local]
//	x0tta6bl4 genesis [--trust-domain D] [--tokens N] [--peers FILE] [--out FILE] FOUNDER...
//	x0tta6bl4 devnet [--nodes N] [--duration D] [--topology line|ring|grid|full] [--scenario governance|sybil] [--admission closed|open] [--json]
//	x0tta6bl4 telemetry [--once] [--json] [--no-ebpf] [--interval D]
//	x0tta6bl4 mesh ping|routes|send|view ...
//	x0tta6bl4 gov propose|vote|list|show|status ...
//	x0tta6bl4 twin simulate|cascade ...
//	x0tta6bl4 lab run|clean|replay ...
//	x0tta6bl4 observe --bootstrap MULTIADDR... [--duration D] [--json] [--record FILE] [--ui HOST:PORT] [--key FILE] [--genesis FILE]
//	x0tta6bl4 observe --replay FILE [--speed N] [--json] [--ui HOST:PORT]
//
// "x0tta6bl4 help" lists every command with its flags; README.md has the
// whole table. The repo defaults to $X0TTA6BL4_REPO, else ~/.x0tta6bl4.
// The commands that talk to a node ask the running daemon through the API
// address it writes into the repo.
//
// The command is thin: main calls Run, Run looks the command up in a table
// (run.go) and each group of commands lives in its own cmd_*.go file. All
// flags go through one parser, parseArgs: flags may come before, between
// or after the positional arguments.
package main
