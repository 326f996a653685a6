/** The help texts of the `warden` command, apart from the commands so `--help` loads nothing else. */

/** `warden --help`. */
export const USAGE = `Usage: warden <command> [options]

Commands:
  demo [--port N]                          run the built-in demo system and its live dashboard
  run <config.json>                        start a system from a config file
  call <address> <ns/component/endpoint> [json]
                                           call an endpoint and print the streamed chunks
  machines [--format mermaid|json] [--out DIR]
                                           export the session, supervisor and transport-server machines

Run 'warden <command> --help' for a command's options. Docs: docs/cli.md`;

/** `warden demo --help`. */
export const DEMO_USAGE = `Usage: warden demo [--port N] [--host H] [--json]

Runs a small system on this machine and serves its live dashboard:
  - supervisor 'demo': 'plc', a simulated PLC that drops its connection every 15 s and is
    refused twice while it "reboots"; 'tcp-ticks' and 'h2-ticks', sessions that each hold a
    streamed call to demo/clock/ticks (through the TCP and the HTTP/2 client);
  - TCP, HTTP/2 and NATS servers serving demo/clock/ticks (a stream) and demo/clock/now;
  - the NATS server's connection, a supervised session of its own: set NATS_URL to a running
    nats-server (default nats://127.0.0.1:4222); without one it keeps reconnecting, and the
    dashboard says why.

Options:
  --port N   dashboard port (default 0: any free port; the URL is printed)
  --host H   dashboard host (default 127.0.0.1)
  --json     log JSON lines even on a terminal
  -h, --help show this help

Stop it with Ctrl-C (SIGINT) or SIGTERM; it exits with code 0 once everything has stopped.`;

/** `warden run --help`. */
export const RUN_USAGE = `Usage: warden run <config.json> [--json]

Starts a system from a config file: supervisors with connector modules, transport servers with
endpoints from handler modules, and the dashboard. Module paths are relative to the config file.

  {
    "supervisors": [
      { "id": "plant", "strategy": "one-for-one",
        "children": [
          { "id": "plc", "connector": "./plc.js", "options": { "host": "10.0.0.5" }, "restart": "permanent" }
        ] }
    ],
    "transports": [
      { "type": "tcp", "options": { "port": 7000 },
        "endpoints": [ { "namespace": "plant", "component": "plc", "endpoint": "read", "handler": "./read.js" } ] }
    ],
    "dashboard": { "port": 8420 }
  }

A bad config prints every problem with its path and exits with code 2. See docs/cli.md.

Options:
  --json       log JSON lines even on a terminal
  -h, --help   show this help`;

/** `warden call --help`. */
export const CALL_USAGE = `Usage: warden call <address> <namespace/component/endpoint> [json] [options]

Calls an endpoint and prints each streamed chunk as one JSON line as it arrives.
The client is picked from the address's scheme:
  tcp://host:port, tls://host:port     TCP transport
  http://host:port, https://host:port  HTTP/2 transport
  nats://host:port                     NATS transport (through that NATS server)

  json              the request body (default: none); '-' reads it from stdin

Options:
  --timeout MS      give up after MS milliseconds (WARDEN_DEADLINE_EXCEEDED)
  --instance ID     call this instance only (16 hex digits)
  --header K=V      a request header; repeat for more
  --token T         shared-secret token for TCP and HTTP/2 (default: $WARDEN_TOKEN)
  --ca FILE         CA certificate (PEM) to trust for tls:// and https://
  --insecure        do not verify the server's certificate
  --prefix P        NATS subject prefix (default warden)
  -h, --help        show this help

Exit codes: 0 when the stream ended, 1 when the call failed (the error code is printed on
stderr), 2 for bad usage, 130 when interrupted.

Example:
  warden call tcp://127.0.0.1:7000 demo/clock/ticks '{"count":3,"intervalMs":200}'`;

/** `warden machines --help`. */
export const MACHINES_USAGE = `Usage: warden machines [--format mermaid|json] [--out DIR]

Exports warden's machine definitions: session, supervisor and transport-server.

  --format mermaid  (default) Markdown with one \`\`\`mermaid stateDiagram-v2 block per machine,
                    exactly the README's copy between <!-- machines:start --> and <!-- machines:end -->
  --format json     machine.toJSON() of each machine, keyed by name
  --out DIR         write one file per machine instead (DIR/session.mmd … or DIR/session.json …)
  -h, --help        show this help`;

/** The help text of each command, by name. */
export const COMMAND_USAGE: Readonly<Record<string, string>> = {
  demo: DEMO_USAGE,
  run: RUN_USAGE,
  call: CALL_USAGE,
  machines: MACHINES_USAGE,
};
