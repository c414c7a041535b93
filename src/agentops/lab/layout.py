"""Where a lab keeps its state, and which agents run where. No autogen import: the CLI reads this too.

A lab state directory (default ./lab-state) holds:

    lab.json          the manifest: ports, pids, process start times, agent placement (LabManifest)
    agentops.yaml     a config for this lab: `agentops health -c lab-state/agentops.yaml`
    run/<proc>.pid    one per process (host, w1, w2): what `lab down` signals, after checking the cmdline
    run/host.port     the AgentRpc port
    run/<w>.metrics_port   the worker's Prometheus port (the worker binds port 0 and writes what it got)
    run/<w>.client_id      the worker's AgentRpc client id (the "<uuid>" of "already registered with client")
    logs/<proc>.log   JSON lines (agentops.lab.jsonlog), AutoGen's own records included
    logs/<proc>.stderr  raw stderr: anything printed before logging was set up (import errors, bind errors)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_SCHEMA = "agentops.lab/v1"
HOST = "host"
REDIS = "redis"  # the lab-owned redis-server of `lab up --with-redis` (its process name and role)
BIND = "127.0.0.1"

# Agent behaviours a lab worker can host. Every one handles the `Ping` message ({"text": str}).
BEHAVIOURS = {
    "echo": "replies Pong with the same text",
    "slow": "sleeps --slow-seconds (or a Sleep{seconds} message's time), then replies",
    "failing": "raises RuntimeError: the caller gets the error string",
    "none": "returns None: no serializer, so no reply ever (the worker logs 'Unknown type NoneType')",
    "leak": "keeps --leak-kib more memory per Ping; Leak{mib} grows it at once, Release{} frees it",
    "store": "writes the Ping's text to the lab's Redis (lab up --with-redis), then replies: a real dependency",
}

# Default placement: every type lives on exactly one worker, as the AgentRpc host requires. w2 also has a
# well-behaved type so "other workers still answer" can be seen when w1 is killed or frozen.
DEFAULT_WORKERS: dict[str, dict[str, str]] = {
    "w1": {"echo": "echo", "slow": "slow", "leak": "leak"},
    "w2": {"failing": "failing", "none": "none", "echo2": "echo"},
}

# Where `lab up --with-redis` puts the type that depends on the lab's Redis.
STORE_WORKER, STORE_TYPE = "w2", "store"

# The ping every lab type answers (configured per worker in the generated agentops.yaml).
PING_PAYLOAD_TYPE = "Ping"
PING_PAYLOAD = {"text": "agentops"}


def parse_agents(spec: str) -> dict[str, str]:
    """"echo,slow,mine=echo" -> {"echo": "echo", "slow": "slow", "mine": "echo"} (type=behaviour)."""
    agents: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        agent_type, _, behaviour = item.partition("=")
        behaviour = behaviour or agent_type
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown agent behaviour {behaviour!r} (known: {', '.join(BEHAVIOURS)})")
        if not agent_type or ":" in agent_type or "/" in agent_type:
            raise ValueError(f"bad agent type name {agent_type!r}")
        agents[agent_type] = behaviour
    return agents


def format_agents(agents: dict[str, str]) -> str:
    return ",".join(t if t == b else f"{t}={b}" for t, b in agents.items())


@dataclass
class LabLayout:
    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()

    @property
    def manifest(self) -> Path:
        return self.root / "lab.json"

    @property
    def config(self) -> Path:
        return self.root / "agentops.yaml"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def pid_file(self, proc: str) -> Path:
        return self.run_dir / f"{proc}.pid"

    def read_pid(self, proc: str) -> int | None:
        try:
            text = self.pid_file(proc).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def port_file(self, proc: str) -> Path:
        """host: the AgentRpc port; redis: its port; a worker: its metrics port."""
        return self.run_dir / (f"{proc}.port" if proc in (HOST, REDIS) else f"{proc}.metrics_port")

    def client_id_file(self, proc: str) -> Path:
        return self.run_dir / f"{proc}.client_id"

    def log_file(self, proc: str) -> Path:
        return self.logs_dir / f"{proc}.log"

    def stderr_file(self, proc: str) -> Path:
        return self.logs_dir / f"{proc}.stderr"

    def make(self) -> None:
        for d in (self.root, self.run_dir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)


@dataclass
class ProcessRecord:
    """One process `lab up` started: enough to find it again and to be sure it is still the same one."""

    name: str
    pid: int
    create_time: float  # psutil's process start time: a recycled pid has another
    cmdline: list[str]
    role: str  # "host" | "worker" | "redis"
    port: int | None = None  # host: AgentRpc port; worker: metrics port; redis: its port
    agent_types: dict[str, str] = field(default_factory=dict)  # worker: type -> behaviour
    # Start time in ticks since boot (core.osproc.start_ticks): the identity check's first choice, as the
    # wall-clock create_time shifts when the clock is stepped. None in manifests written before it was kept.
    start_ticks: int | None = None


@dataclass
class LabManifest:
    dir: str
    host_address: str
    processes: list[ProcessRecord]
    started_at: str
    slow_seconds: float
    leak_kib: int
    schema: str = MANIFEST_SCHEMA
    redis_address: str | None = None  # `lab up --with-redis`: the lab-owned Redis the store agent writes to
    log_format: str = "json"  # `lab up --log-format`: json | text

    @property
    def host(self) -> ProcessRecord:
        return next(p for p in self.processes if p.role == HOST)

    @property
    def workers(self) -> list[ProcessRecord]:
        return [p for p in self.processes if p.role == "worker"]

    @property
    def redis(self) -> ProcessRecord | None:
        return next((p for p in self.processes if p.role == REDIS), None)

    def owner_of(self, agent_type: str) -> ProcessRecord | None:
        return next((w for w in self.workers if agent_type in w.agent_types), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> LabManifest:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("schema") != MANIFEST_SCHEMA:
            raise ValueError(f"{path}: not a lab manifest ({MANIFEST_SCHEMA})")
        procs = [ProcessRecord(**p) for p in doc.pop("processes")]
        return cls(processes=procs, **doc)
