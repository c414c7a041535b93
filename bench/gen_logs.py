"""Generate a realistic AutoGen cluster log (the lab's JSON-lines format) of a given size, with a ground-truth
file of what is in it, for bench/bench_logs.py and the logs tests.

    python bench/gen_logs.py /tmp/agentops-bench/cluster.log --size 1G
    python bench/gen_logs.py out.log --size 2M --seed 7 --bad --truth out.truth.json

The mix follows what a host and two workers write at INFO: the host logs every message (twice, with the
protobuf dump of the request), workers log "Processing request …" and handler timings; a few percent are
warnings; errors are the cluster's real failure lines (agent not found, asyncio "Exception in callback …"
tracebacks ending in the cause, timeouts, refused connections, missing modules, bad payloads, oversized
messages), in bursts as incidents come and go, plus auth/permission failures and slow operations.

--bad mixes in bad input: truncated JSON lines, invalid UTF-8, plain-text lines, a blank line, an oversized
line (--huge-line MiB), and ends the file in the middle of a line. The truth file counts each kind.
Deterministic for a given seed. Writes ~100 MB/s.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime

START = datetime(2024, 5, 1, tzinfo=UTC).timestamp()
AGENTS = ["echo", "slow", "leak", "failing", "echo2"]


def size_arg(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def traceback(frames: list[tuple[str, int, str, str]], cause: str) -> str:
    lines = ["Traceback (most recent call last):"]
    for path, line, func, code in frames:
        lines += [f'  File "{path}", line {line}, in {func}', f"    {code}"]
    return "\n".join([*lines, cause])


_RUNTIME = "/opt/venv/lib/python3.11/site-packages/autogen_ext/runtimes/grpc/_worker_runtime.py"
_EVENTS = "/usr/lib/python3.11/asyncio/events.py"

# (truth key, level, logger, process, message template, exception template or None, weight)
# Templates take: n (a counter), agent, key, uuid, port, attempt, ms.
ERRORS = [
    ("agent_not_found", "ERROR", "autogen_core", "host", "Agent {missing} not found, failed to deliver message.",
     None, 40),
    ("unknown_type_none", "ERROR", "asyncio", "w2",
     "Exception in callback GrpcWorkerAgentRuntime._raise_on_exception(<Task finishe...NoneType')>)\n"
     "handle: <Handle GrpcWorkerAgentRuntime._raise_on_exception(<Task finishe...NoneType')>)>",
     traceback([(_EVENTS, 84, "_run", "self._context.run(self._callback, *self._args)"),
                (_RUNTIME, 278, "_raise_on_exception", "raise exception")],
               "ValueError: Unknown type NoneType with data content type application/json"), 15),
    ("timeout", "ERROR", "agents.caller", "w1", "Timeout waiting for reply from {agent}/{key} after 30.0s",
     traceback([("/srv/agents/caller.py", 88, "call", "return await asyncio.wait_for(fut, 30.0)")],
               "TimeoutError"), 15),
    ("redis_refused", "ERROR", "agents.store", "w1",
     "Error 111 connecting to 127.0.0.1:{port}. Connection refused.",
     traceback([("/srv/agents/store.py", 41, "save", "await self.redis.set(key, value)")],
               "redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:{port}. Connection refused."),
     10),
    ("missing_module", "ERROR", "agents.loader", "w2", "Failed to load agent plugin summarize_v{attempt}",
     traceback([("/srv/agents/loader.py", 17, "load", "module = importlib.import_module(name)")],
               "ModuleNotFoundError: No module named 'tiktoken'"), 3),
    ("bad_payload", "ERROR", "autogen_core", "w1", "Error handling event",
     traceback([(_RUNTIME, 701, "_process_event", "message = self._serialization_registry.deserialize(...)")],
               "json.decoder.JSONDecodeError: Expecting value: line 1 column {attempt} (char {n})"), 5),
    ("too_large", "ERROR", "agents.caller", "w1", "send_message to {agent}/{key} failed",
     traceback([("/srv/agents/caller.py", 95, "call", "await runtime.send_message(msg, target)")],
               "grpc.aio.AioRpcError: <AioRpcError of RPC that terminated with: status = StatusCode."
               "RESOURCE_EXHAUSTED details = \"Received message larger than max (5242880 vs. 4194304)\">"), 3),
    ("client_not_found", "ERROR", "autogen_core", "host",
     "Client {uuid} not found, failed to send response message.", None, 6),
    ("oom", "CRITICAL", "agents.worker", "w2", "Worker w2 memory limit reached: rss={n} MiB, stopping", None, 1),
]
SECURITY = [
    ("auth_failure", "WARNING", "agents.store", "w1",
     'connection to 127.0.0.1:5432 failed: FATAL:  password authentication failed for user "agents"', None, 3),
    ("permission_denied", "ERROR", "agents.store", "w2",
     "could not open state file", traceback([("/srv/agents/store.py", 12, "open_state", "open(path, 'a')")],
                                            "PermissionError: [Errno 13] Permission denied: "
                                            "'/var/lib/agents/state-{attempt}.db'"), 2),
]
WARNINGS = [
    ("retry", "WARNING", "agents.store", "w1", "Retrying connection to 127.0.0.1:{port} (attempt {attempt})",
     None, 20),
    ("empty", "WARNING", "autogen_core", "host", "Received empty message", None, 3),
]
INFO = [
    ("host_received", "INFO", "autogen_core", "host",
     'Received message from client {uuid}: request {{\n  request_id: "{n}"\n  source {{\n    type: "caller"\n'
     '    key: "default"\n  }}\n  target {{\n    type: "{agent}"\n    key: "{key}"\n  }}\n  payload {{\n'
     '    data_type: "Ping"\n    data_content_type: "application/json"\n    data: "{{\\"text\\": \\"hello '
     '{n}\\"}}"\n  }}\n  metadata {{\n    key: "traceparent"\n    value: "00-{trace}-{span}-01"\n  }}\n}}\n',
     None, 30),
    ("processing", "INFO", "root", "w1", "Processing request from caller/default to {agent}/{key}", None, 20),
    ("send_queue", "INFO", "autogen_core", "w1", "Put message in send queue", None, 12),
    ("get_queue", "INFO", "autogen_core", "w1", "Getting message from queue", None, 12),
    ("connected", "INFO", "autogen_core", "host", "Client {uuid} connected.", None, 1),
]
TIMED = ("handled", "INFO", "agents.echo", "w1", "Handled Ping for {agent}/{key}", None, 10)


class Generator:
    def __init__(self, seed: int, error_share: float, rate: float) -> None:
        self.rng = random.Random(seed)
        self.error_share = error_share
        self.ts = START
        self.rate = rate  # records per second on average
        self.n = 0
        self.truth: Counter[str] = Counter()
        self.slow = 0
        self.uuids = [str(uuid.UUID(int=self.rng.getrandbits(128))) for _ in range(20)]
        self._weights = {name: [e[-1] for e in table] for name, table in
                         (("errors", ERRORS), ("security", SECURITY), ("warnings", WARNINGS), ("info", INFO))}

    def incident(self) -> float:
        """Errors come in bursts: a 10-minute incident every 2 hours multiplies the error share by 10."""
        minute = int((self.ts - START) // 60)
        return 10.0 if minute % 120 < 10 else 0.5

    def line(self) -> str:
        rng = self.rng
        self.n += 1
        self.ts += rng.expovariate(self.rate)
        r = rng.random()
        p_err = self.error_share * self.incident()
        duration_ms = None
        if r < p_err:
            entry = rng.choices(ERRORS, self._weights["errors"])[0]
        elif r < p_err + 0.001:
            entry = rng.choices(SECURITY, self._weights["security"])[0]
        elif r < p_err + 0.025:
            entry = rng.choices(WARNINGS, self._weights["warnings"])[0]
        elif r < p_err + 0.125:
            entry = TIMED
            slow = rng.random() < 0.01
            duration_ms = round(rng.uniform(1200, 9000) if slow else rng.uniform(0.3, 40), 3)
        else:
            entry = rng.choices(INFO, self._weights["info"])[0]
        key, level, logger, process, template, exc, _ = entry
        values = {
            "n": self.n, "agent": rng.choice(AGENTS), "key": f"k{rng.randrange(50)}",
            "missing": rng.choice(["summarizer", "planner", "router"]),
            "uuid": rng.choice(self.uuids), "port": 6379, "attempt": rng.randrange(1, 6),
            "trace": f"{rng.getrandbits(128):032x}", "span": f"{rng.getrandbits(64):016x}",
        }
        message = template.format(**values)
        exception = exc.format(**values) if exc else None
        trace = values["trace"] if level != "INFO" or rng.random() < 0.5 else None
        doc = {
            "timestamp": iso(self.ts), "level": level, "logger": logger, "message": message,
            "module": logger.rsplit(".", 1)[-1], "function": "handle", "line": 10 + self.n % 300,
            "agent_id": f"{values['agent']}/{values['key']}" if process != "host" else None,
            "message_id": str(self.n % 100000) if process != "host" else None,
            "trace_id": trace, "exception": exception, "process": process, "pid": 4000 + len(process),
        }
        if duration_ms is not None:
            doc["duration_ms"] = duration_ms
            if duration_ms >= 1000:
                self.slow += 1
        self.truth[key] += 1
        self.truth[f"level:{level}"] += 1
        return json.dumps(doc, ensure_ascii=False) + "\n"


def bad_lines(ts: float, huge_mib: int) -> list[tuple[str, bytes]]:
    """(truth key, raw bytes) of each kind of bad input. All INFO or without a level, except the oversized
    line, which is an ERROR record (its head survives the cap, so it still counts as one error)."""
    good = json.dumps({"timestamp": iso(ts), "level": "INFO", "logger": "root", "message": "Processing request "
                       "from caller/default to echo/k1", "process": "w1"}).encode()
    out = [
        ("truncated_json", good[: len(good) // 2] + b"\n"),
        ("invalid_utf8", good.replace(b"Processing", b"Proc\xff\xfeessing", 1) + b"\n"),
        ("non_json", b"plain text in a JSON log, from a print() or a second handler\n"),
        ("blank", b"\n"),
    ]
    if huge_mib:
        doc = {"timestamp": iso(ts), "level": "ERROR", "logger": "agents.caller",
               "message": "payload dump " + "x" * (huge_mib << 20), "process": "w1"}
        out.append(("oversized_lines", (json.dumps(doc) + "\n").encode()))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="file to write ('-' for stdout)")
    ap.add_argument("--size", type=size_arg, default=size_arg("1G"), help="bytes to write, e.g. 200M, 1G")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--error-share", type=float, default=0.01, help="share of error records: half of this "
                    "outside incidents, 10x inside (default 0.01)")
    ap.add_argument("--rate", type=float, default=30.0, help="records per second of log time (default 30)")
    ap.add_argument("--bad", action="store_true", help="mix in bad input (see above)")
    ap.add_argument("--huge-line", type=int, default=0, metavar="MIB", help="with --bad: one line of this size")
    ap.add_argument("--truth", help="write the ground truth (counts) as JSON to this file")
    args = ap.parse_args(argv)

    gen = Generator(args.seed, args.error_share, args.rate)
    out = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")  # noqa: SIM115
    written = 0
    bad: Counter[str] = Counter()
    batch: list[str] = []
    inject_every = 5000 if args.bad else 0
    try:
        while written < args.size:
            for _ in range(1000):
                line = gen.line()
                batch.append(line)
                if inject_every and gen.n % inject_every == 0:
                    for key, raw in bad_lines(gen.ts, args.huge_line if not bad["oversized_lines"] else 0):
                        bad[key] += 1
                        batch.append(raw.decode("utf-8", "surrogateescape"))
            data = "".join(batch).encode("utf-8", "surrogateescape")
            batch.clear()
            out.write(data)
            written += len(data)
        if args.bad:
            out.write(b'{"timestamp": "' + iso(gen.ts + 1).encode() + b'", "level": "ERROR", "message": "cut')
            bad["unterminated_lines"] += 1
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    if args.truth:
        truth = {
            "records": gen.n, "slow": gen.slow, "bad": dict(bad),
            "kinds": {k: v for k, v in gen.truth.items() if not k.startswith("level:")},
            "levels": {k[6:]: v for k, v in gen.truth.items() if k.startswith("level:")},
            "start": iso(START), "end": iso(gen.ts),
        }
        with open(args.truth, "w") as fh:
            json.dump(truth, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
