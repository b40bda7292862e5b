#!/usr/bin/python3
"""Run an agent on Baton from Python over gRPC.

Creates a run from an inline AgentSpec, follows it with WatchRun until it ends,
printing each event, then prints the final output. Exits 0 only if the run
SUCCEEDED (1 otherwise, 2 for bad usage).

The gRPC stubs are generated from proto/ at start into a temporary directory with
grpc_tools.protoc, so nothing generated is committed. Needs Debian's
python3-grpcio, python3-grpc-tools and python3-protobuf (`make setup` installs
them); run it with /usr/bin/python3.
"""

import argparse
import atexit
import contextlib
import os
import re
import shutil
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PROTO_DIR = os.path.join(REPO_ROOT, "proto")
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
    parser.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR,
                        help="directory holding baton/v1/*.proto (default: the repo's proto/)")
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
            import json
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


def open_channel(grpc, args, token):
    """TLS when --ca (or BATON_CA) is set, as every Baton client does; else plaintext.
    With `token` (bearer_token: an API key or JWT), every call carries it (one
    interceptor for every method)."""
    channel = open_transport(grpc, args)
    if token is None:
        return channel

    class BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
        def _add(self, details):
            metadata = list(details.metadata or []) + [("authorization", f"Bearer {token}")]
            return details._replace(metadata=metadata) if hasattr(details, "_replace") else _Details(
                details.method, details.timeout, metadata, details.credentials,
                getattr(details, "wait_for_ready", None), getattr(details, "compression", None))

        def intercept_unary_unary(self, continuation, details, request):
            return continuation(self._add(details), request)

        def intercept_unary_stream(self, continuation, details, request):
            return continuation(self._add(details), request)

    return grpc.intercept_channel(channel, BearerToken())


def _details_type():
    import collections
    import grpc

    class Details(collections.namedtuple(
            "Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
            grpc.ClientCallDetails):
        pass
    return Details


def _Details(*fields):
    return _details_type()(*fields)


def open_transport(grpc, args):
    if not args.ca:
        return grpc.insecure_channel(args.addr)

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca),
        private_key=read(args.key) if args.key else None,
        certificate_chain=read(args.cert) if args.cert else None)
    return grpc.secure_channel(args.addr, credentials)


def first_call_hint(grpc, code, args, token):
    """What to check when the first call fails for a reason of the connection (gRPC's
    own message names the symptom, not the usual cause); None otherwise."""
    if code == grpc.StatusCode.UNAVAILABLE and not args.ca:
        return (f"is the orchestrator running at {args.addr}? This client connected without "
                "TLS; if the orchestrator serves TLS, pass --ca (or set BATON_CA) with the CA "
                "that signed its certificate")
    if code == grpc.StatusCode.UNAVAILABLE:
        return (f"is the orchestrator running at {args.addr}? Check that --ca ({args.ca}) is "
                "the CA that signed the orchestrator's certificate, and that the certificate "
                "names the host in --addr")
    if code == grpc.StatusCode.UNAUTHENTICATED and token is None:
        return ("the orchestrator runs with --auth: give an API key with --api-key-file or "
                "BATON_API_KEY")
    return None


@contextlib.contextmanager
def captured_stderr():
    """Captures file descriptor 2 (protoc writes its errors there from C++)."""
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        result = {"text": ""}
        try:
            yield result
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            result["text"] = tmp.read().decode("utf-8", "replace")


def generate_stubs(proto_dir):
    """Generates baton/v1/*_pb2(_grpc).py into a temp dir and puts it on sys.path."""
    from grpc_tools import protoc

    source = os.path.join(proto_dir, "baton", "v1")
    if not os.path.isdir(source):
        sys.exit(f"error: no protos in {source} (use --proto-dir)")
    protos = sorted(f"baton/v1/{name}" for name in os.listdir(source) if name.endswith(".proto"))
    out = tempfile.mkdtemp(prefix="baton-python-")
    atexit.register(shutil.rmtree, out, True)

    def run_protoc(include_dir):
        with captured_stderr() as err:
            rc = protoc.main(["grpc_tools.protoc", f"-I{include_dir}", f"--python_out={out}",
                              f"--grpc_python_out={out}", *protos])
        return rc, err["text"]

    rc, errors = run_protoc(proto_dir)
    if rc != 0 and "'optional'" in errors:
        # Debian 12's grpc_tools bundles a protoc older than proto3 `optional`. Dropping
        # the label keeps the wire format (same numbers and types); only field
        # presence of those fields is lost in Python, and this client sets none of them.
        copy = os.path.join(out, "_proto")
        os.makedirs(os.path.join(copy, "baton", "v1"))
        for proto in protos:
            with open(os.path.join(proto_dir, proto), encoding="utf-8") as f:
                text = re.sub(r"^(\s*)optional\s+", r"\1", f.read(), flags=re.MULTILINE)
            with open(os.path.join(copy, proto), "w", encoding="utf-8") as f:
                f.write(text)
        rc, errors = run_protoc(copy)
    if rc != 0:
        sys.exit(f"error: grpc_tools.protoc failed on {proto_dir}:\n{errors}")
    sys.path.insert(0, out)


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


def format_event(event, run_pb2):
    """The lines `baton watch` would print for one RunEvent."""
    kind = event.WhichOneof("event")
    if kind == "state_changed":
        e = event.state_changed
        line = "state " + run_pb2.RunState.Name(e.state)
        details = []
        if e.attempt and (e.state == run_pb2.RUNNING or e.attempt > 1):
            details.append(f"attempt {e.attempt}")
        if e.worker_id:
            details.append(e.worker_id)
        if details:
            line += f" ({', '.join(details)})"
        if e.failure_kind:
            line += f" [{run_pb2.FailureKind.Name(e.failure_kind)}]"
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
    args = parse_args(argv)  # before importing grpc, so --help works anywhere
    try:
        import grpc
    except ImportError:
        sys.exit("error: the grpc module is missing; run with /usr/bin/python3 after `make setup` "
                 "(Debian packages python3-grpcio python3-grpc-tools python3-protobuf)")
    generate_stubs(args.proto_dir)
    from baton.v1 import agent_pb2, run_pb2, run_service_pb2, run_service_pb2_grpc

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    agent = agent_pb2.AgentSpec(name="python-example", model=args.model, system=args.system,
                                allowed_tools=tools, max_steps=args.max_steps)
    request = run_service_pb2.CreateRunRequest(agent=agent, input=args.input,
                                               request_id=args.request_id,
                                               labels={"client": "examples/python"})
    deadline = time.monotonic() + args.timeout
    try:
        token = bearer_token(args)
        channel = open_channel(grpc, args, token)
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with channel:
        runs = run_service_pb2_grpc.RunServiceStub(channel)
        try:
            run = runs.CreateRun(request, timeout=15)
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            hint = first_call_hint(grpc, e.code(), args, token)
            if hint:
                print(f"hint: {hint}", file=sys.stderr)
            return 1
        print(f"run {run.run_id}", flush=True)

        last_seq = 0
        final_state = run_pb2.RUN_STATE_UNSPECIFIED
        while final_state not in (run_pb2.SUCCEEDED, run_pb2.FAILED, run_pb2.CANCELLED):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                print(f"error: the run did not end within {args.timeout:g} s", file=sys.stderr)
                return 1
            try:
                stream = runs.WatchRun(
                    run_service_pb2.WatchRunRequest(run_id=run.run_id, after_seq=last_seq),
                    timeout=remaining)
                for event in stream:
                    if event.seq <= last_seq:
                        continue
                    last_seq = event.seq
                    line = format_event(event, run_pb2)
                    if line is not None:
                        print(line, flush=True)
                    if event.WhichOneof("event") == "state_changed":
                        final_state = event.state_changed.state
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
                    return 1
                print(f"(lost the orchestrator: {e.details()}; reconnecting)", file=sys.stderr)
                time.sleep(1)
                continue
            if final_state in (run_pb2.SUCCEEDED, run_pb2.FAILED, run_pb2.CANCELLED):
                break
            # The stream ended without a final state: ask where the run is.
            time.sleep(0.2)
            try:
                final_state = runs.GetRun(run_service_pb2.GetRunRequest(run_id=run.run_id),
                                          timeout=15).state
            except grpc.RpcError as e:
                print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
                return 1

        try:
            done = runs.GetRun(run_service_pb2.GetRunRequest(run_id=run.run_id), timeout=15)
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    print(f"run {done.run_id} {run_pb2.RunState.Name(done.state)} after {done.steps} steps")
    if done.error:
        print(f"error: {done.error}")
    print("output:")
    print(done.output)
    return 0 if done.state == run_pb2.SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
