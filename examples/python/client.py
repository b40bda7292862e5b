#!/usr/bin/env python3
"""Run an agent on Baton from Python, with the `baton` package (clients/python).

Creates a run from an inline AgentSpec, follows it with watch() until it ends,
printing each event, then prints the final output. Exits 0 only if the run
SUCCEEDED (1 otherwise, 2 for bad usage).

Run it with a Python that has the package: build/python/bin/python after `make build`,
or your own venv (clients/python/README.md).
"""

import argparse
import json
import os
import sys

DEFAULT_SYSTEM = ("You are a concise, helpful assistant. Use the tools when they help. "
                  "Answer in one or two sentences.")
PREVIEW_CHARS = 160


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Run an agent on Baton and watch it to the end (exit 0 only if it SUCCEEDED).")
    parser.add_argument("--addr", default=os.environ.get("BATON_ADDR", "127.0.0.1:7233"),
                        help="orchestrator HOST:PORT (default: $BATON_ADDR or 127.0.0.1:7233)")
    parser.add_argument("--input", default="What is 17 + 25? Also tell me the time.",
                        help="the user's message to the agent")
    parser.add_argument("--model", default="claude-sonnet-4-5", help="Messages API model id")
    parser.add_argument("--system", default=DEFAULT_SYSTEM, help="system prompt")
    parser.add_argument("--tools", default="echo,sum,current_time",
                        help="comma-separated allowed tools (default: echo,sum,current_time)")
    parser.add_argument("--max-steps", type=int, default=10, help="step limit of the run")
    parser.add_argument("--request-id", default="",
                        help="idempotency key: the same id returns the same run")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds to wait for the run to end (default 600)")
    parser.add_argument("--ca", default=os.environ.get("BATON_CA", ""),
                        help="PEM CA that signs the orchestrator's certificate: connect with TLS "
                             "(default: $BATON_CA; none: plaintext)")
    parser.add_argument("--cert", default=os.environ.get("BATON_CERT", ""),
                        help="PEM client certificate for mTLS (default: $BATON_CERT)")
    parser.add_argument("--key", default=os.environ.get("BATON_KEY", ""),
                        help="PEM private key of --cert (default: $BATON_KEY)")
    parser.add_argument("--api-key-file", default="",
                        help="file holding an API key or JWT, sent as 'authorization: Bearer' "
                             "(default: $BATON_API_KEY, else the admin key of the `baton up` stack "
                             "in ./.baton at --addr)")
    args = parser.parse_args(argv)
    if bool(args.cert) != bool(args.key):
        parser.error("--cert and --key go together")
    if args.cert and not args.ca:
        parser.error("--cert needs --ca: a client certificate is only sent over TLS")
    return args


def bearer_token(args):
    """--api-key-file, else $BATON_API_KEY, else the admin key `baton up` recorded for
    --addr in ./.baton/stack.json (its path, never the key); None when there is none."""
    path = args.api_key_file
    if not path:
        if os.environ.get("BATON_API_KEY"):
            return os.environ["BATON_API_KEY"].strip()
        try:
            with open(os.path.join(".baton", "stack.json")) as f:
                stack = json.load(f)
            if stack.get("addr") == args.addr:
                path = stack.get("api_key_file", "")
        except (OSError, ValueError):
            pass
    if not path:
        return None
    with open(path) as f:
        return f.read().strip() or None


def first_call_hint(baton, error, args, token):
    """What to check when the first call fails for a reason of the connection (gRPC's
    own message names the symptom, not the usual cause); None otherwise."""
    if isinstance(error, baton.Unavailable) and not args.ca:
        return (f"is the orchestrator running at {args.addr}? This client connected without "
                "TLS; if the orchestrator serves TLS, pass --ca (or set BATON_CA) with the CA "
                "that signed its certificate")
    if isinstance(error, baton.Unavailable):
        return (f"is the orchestrator running at {args.addr}? Check that --ca ({args.ca}) is "
                "the CA that signed the orchestrator's certificate, and that the certificate "
                "names the host in --addr")
    if isinstance(error, baton.Unauthenticated) and token is None:
        return ("the orchestrator runs with --auth: give an API key with --api-key-file or "
                "BATON_API_KEY")
    return None


def preview(text, limit=PREVIEW_CHARS):
    text = text.replace("\r", "").replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + "..."


def format_usage(usage):
    line = (f"{usage.model_calls} model calls, {usage.tool_calls} tool calls, "
            f"{usage.input_tokens:,} in / {usage.output_tokens:,} out tokens")
    if usage.cache_read_input_tokens or usage.cache_creation_input_tokens:
        line += (f" (cache: {usage.cache_read_input_tokens:,} read, "
                 f"{usage.cache_creation_input_tokens:,} written)")
    return line


def format_event(baton, event):
    """The lines `baton watch` would print for one RunEvent."""
    kind = event.WhichOneof("event")
    if kind == "state_changed":
        e = event.state_changed
        line = "state " + baton.RunState.Name(e.state)
        details = []
        if e.attempt and (e.state == baton.RUNNING or e.attempt > 1):
            details.append(f"attempt {e.attempt}")
        if e.worker_id:
            details.append(e.worker_id)
        if details:
            line += f" ({', '.join(details)})"
        if e.failure_kind:
            line += f" [{baton.FailureKind.Name(e.failure_kind)}]"
        if e.reason:
            line += f": {e.reason}"
        return line
    if kind == "step_started":
        return f"step {event.step_started.step}: model {event.step_started.model}"
    if kind == "step_finished":
        e = event.step_finished
        return (f"step {e.step} done: {e.stop_reason}, "
                f"{e.usage.input_tokens:,} in / {e.usage.output_tokens:,} out tokens")
    if kind == "tool_call_started":
        e = event.tool_call_started
        return f"  tool {e.name} {preview(e.input_json or '{}')}"
    if kind == "tool_call_finished":
        e = event.tool_call_finished
        arrow = "-> ERROR: " if e.is_error else "-> "
        return f"  tool {e.name} {arrow}{preview(e.output_preview)} ({e.duration_ms} ms)"
    if kind == "text":
        return "  text: " + event.text.text.replace("\n", "\n        ")
    if kind == "final_output":
        return f"usage: {format_usage(event.final_output.usage)}"
    return None


def main(argv):
    args = parse_args(argv)  # before importing baton, so --help works anywhere
    try:
        import baton
    except ImportError:
        sys.exit("error: the baton package is missing; run this with build/python/bin/python "
                 "after `make build`, or install clients/python (clients/python/README.md)")
    try:
        token = bearer_token(args)
        tls = baton.Tls(args.ca, args.cert or None, args.key or None) if args.ca else False
        client = baton.Baton(args.addr, api_key=token, tls=tls)
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    agent = baton.AgentSpec(name="python-example", model=args.model, system=args.system,
                            allowed_tools=tools, max_steps=args.max_steps)
    with client:
        try:
            run = client.create_run(agent, args.input, request_id=args.request_id,
                                    labels={"client": "examples/python"})
        except baton.BatonError as e:
            print(f"error: {e}", file=sys.stderr)
            hint = first_call_hint(baton, e, args, token)
            if hint:
                print(f"hint: {hint}", file=sys.stderr)
            return 1
        print(f"run {run.run_id}", flush=True)
        try:
            # watch() reconnects by itself if the orchestrator goes away for a while.
            for event in client.watch(run.run_id, timeout=args.timeout):
                line = format_event(baton, event)
                if line is not None:
                    print(line, flush=True)
            done = client.get_run(run.run_id)
        except baton.DeadlineExceeded:
            print(f"error: the run did not end within {args.timeout:g} s", file=sys.stderr)
            return 1
        except baton.BatonError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    print(f"run {done.run_id} {baton.RunState.Name(done.state)} after {done.steps} steps")
    if done.error:
        print(f"error: {done.error}")
    print("output:")
    print(done.output)
    return 0 if done.state == baton.SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
