"""Error text → cause and fix, the way an experienced operator reads a traceback.

Input is whatever an operator has: a pasted traceback (possibly chained, possibly inside JSON log lines), a
single "Type: message" line, or the outcome of importing an agent class in a child process. The answer names
the exception the classification rests on, the cause in plain words and a concrete fix — for a missing module,
the pip package to install (a small map of import names that differ from their distribution names, else the
module's top-level name).

Pure functions over text: no imports of the code being diagnosed, so classifying is safe in-process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Import names whose pip distribution is called something else. Anything not here installs under its
# top-level module name, which is right for most packages (requests, httpx, redis, openai, ...).
MODULE_PACKAGES: dict[str, str] = {
    "yaml": "PyYAML",
    "cv2": "opencv-python",
    "PIL": "Pillow",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil",
    "dotenv": "python-dotenv",
    "jwt": "PyJWT",
    "jose": "python-jose",
    "magic": "python-magic",
    "multipart": "python-multipart",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "serial": "pyserial",
    "usb": "pyusb",
    "attr": "attrs",
    "Crypto": "pycryptodome",
    "OpenSSL": "pyOpenSSL",
    "MySQLdb": "mysqlclient",
    "psycopg2": "psycopg2-binary",
    "psycopg": "psycopg[binary]",
    "google.protobuf": "protobuf",
    "grpc": "grpcio",
    "grpc_tools": "grpcio-tools",
    "grpc_health": "grpcio-health-checking",
    "prometheus_client": "prometheus-client",
    "opentelemetry": "opentelemetry-api",
    "autogen_core": "autogen-core",
    "autogen_ext": "autogen-ext",
    "autogen_agentchat": "autogen-agentchat",
    "autogen": "autogen-agentchat",
    "zmq": "pyzmq",
    "Levenshtein": "python-Levenshtein",
    "fitz": "PyMuPDF",
    "win32api": "pywin32",
    "pkg_resources": "setuptools",
    "lxml": "lxml",
    "tiktoken": "tiktoken",
    "sentence_transformers": "sentence-transformers",
    "huggingface_hub": "huggingface-hub",
    "google.generativeai": "google-generativeai",
    "kubernetes": "kubernetes",
    "ruamel": "ruamel.yaml",
    "agentops": "agentops-cli",  # "agentops" on PyPI is an unrelated project
}

# Submodules that come with a pip extra of their package, not a package of their own.
MODULE_EXTRAS: dict[str, str] = {
    "autogen_ext.runtimes.grpc": "autogen-ext[grpc]",
    "autogen_ext.models.openai": "autogen-ext[openai]",
    "autogen_ext.models.anthropic": "autogen-ext[anthropic]",
    "autogen_ext.models.azure": "autogen-ext[azure]",
    "autogen_ext.code_executors.docker": "autogen-ext[docker]",
}

# "KeyError: 'x'", "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
# "grpc.aio._call.AioRpcError: <AioRpcError of RPC that terminated with: ...", "KeyboardInterrupt".
_EXC_LINE = re.compile(r"^(?P<type>(?:[A-Za-z_]\w*\.)*(?:(?:[A-Za-z_]\w*)?(?:Error|Exception|Exit|Interrupt|Warning|"
                       r"Timeout|Refused|NotFound|Denied|Exceeded|Fault|ExceptionGroup)|gaierror|herror|timeout|StopIteration|"
                       r"KeyboardInterrupt|SystemExit|GeneratorExit))(?::\s?(?P<msg>.*))?$")
_GROUP_PREFIX = re.compile(r"^[\s|+-]*\| ")
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')


@dataclass
class Classification:
    """What an error means. `kind` is a stable id (missing-module, connection-refused, …) for rules and JSON."""

    kind: str
    cause: str
    fix: str
    exception: str = ""  # the exception type the classification rests on (bare name)
    message: str = ""  # its message, one line
    location: str = ""  # "file:line in func" of the innermost frame, when the text had one
    package: str | None = None  # missing-module, version-mismatch: what to pip install
    subject: str | None = None  # what it is about: the module, file, library, variable
    evidence: list[str] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return self.kind != "unclassified"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "", [])}


@dataclass
class ExceptionLine:
    type: str  # as written, possibly dotted (json.decoder.JSONDecodeError)
    message: str
    location: str = ""

    @property
    def name(self) -> str:
        return self.type.rsplit(".", 1)[-1]


def package_for(module: str) -> str:
    """The pip requirement that provides `module` (dotted import name)."""
    for sub, extra in MODULE_EXTRAS.items():
        if module == sub or module.startswith(sub + "."):
            return extra
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in MODULE_PACKAGES:
            return MODULE_PACKAGES[prefix]
    return parts[0].replace("_", "-")


def exception_lines(text: str) -> list[ExceptionLine]:
    """Every "Type: message" line of a (possibly chained) traceback, in order, each with the innermost frame
    printed above it. Text that is JSON lines (structured logs) contributes each record's `exception` field."""
    found: list[ExceptionLine] = []
    location = ""
    for raw in _unwrap_json(text).splitlines():
        body = _GROUP_PREFIX.sub("", raw.rstrip())  # "  | ValueError: x" inside an ExceptionGroup
        frame = _FRAME.match(body)
        if frame:
            location = f"{frame['file']}:{frame['line']}" + (f" in {frame['func']}" if frame["func"] else "")
            continue
        if body[:1].isspace():
            continue  # a source line quoted under its frame
        match = _EXC_LINE.match(body)
        if match:
            found.append(ExceptionLine(match["type"], (match["msg"] or "").strip(), location))
            location = ""
    return found


def _unwrap_json(text: str) -> str:
    """JSON log records → their `exception` (else `message`) text; anything else is returned unchanged."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return text
    parts = []
    for line in stripped.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            parts.append(line)
            continue
        if isinstance(doc, dict):
            parts.append(str(doc.get("exception") or doc.get("exc_info") or doc.get("message") or ""))
    return "\n".join(parts)


def classify_text(text: str) -> Classification:
    """Classify a pasted traceback, log excerpt or one-line error.

    Chained tracebacks ("During handling of the above exception…") are read whole: the most specific known
    exception wins over a generic wrapper (a RuntimeError raised from a ConnectionRefusedError is a refused
    connection); among equals, the last (outermost) one."""
    lines = exception_lines(text)
    if not lines:
        one = " ".join(text.split())[:300]
        guess = _classify_plain(one)
        return guess or Classification(
            kind="unclassified", cause=f"no exception line found in the text ({one[:80]!r}…)" if one else
            "empty error text", fix="paste the whole traceback, ending with its 'Type: message' line")
    classified = []
    for exc in lines:
        c = classify_exception(exc.type, exc.message)
        c.location = exc.location
        classified.append(c)
    best = next((c for c in reversed(classified) if c.known), classified[-1])
    last = lines[-1]
    best.evidence = [f"{e.type}: {e.message}".rstrip(": ") + (f"  ({e.location})" if e.location else "")
                     for e in lines[-3:]]
    if best.exception != last.name:
        best.evidence.append(f"classified by the chained {best.exception}, not the final {last.name}")
    return best


def classify_exception(exc_type: str, message: str) -> Classification:
    """Classify one exception by type and message."""
    name = exc_type.rsplit(".", 1)[-1]
    message = " ".join(message.split())
    for rule in _RULES:
        c = rule(name, message)
        if c is not None:
            c.exception, c.message = name, message
            return c
    return Classification(kind="unclassified", exception=name, message=message,
                          cause=f"the code raised {name}" + (f": {message}" if message else ""),
                          fix="read the traceback's innermost frame (file:line) and fix the code or input there")


def _classify_plain(text: str) -> Classification | None:
    """No traceback, just words ("connection refused", "permission denied"): classify by message alone."""
    c = classify_exception("Error", text)
    if not c.known:
        return None
    c.exception = ""
    return c


# ----------------------------------------------------------------------------------------------- rules

Rule = Callable[[str, str], Classification | None]
_RULES: list[Rule] = []


def _rule(fn: Rule) -> Rule:
    _RULES.append(fn)
    return fn


def _quoted(message: str) -> str | None:
    m = re.search(r"['\"]([^'\"]+)['\"]", message)
    return m.group(1) if m else None


@_rule
def _missing_module(name: str, msg: str) -> Classification | None:
    if "No module named" not in msg:
        return None
    module = _quoted(msg) or msg.rsplit(" ", 1)[-1]
    package = package_for(module)
    if "." in module and (module in MODULE_EXTRAS or package.endswith("]")):
        cause = f"module {module!r} is part of an optional extra that is not installed"
    else:
        cause = f"Python module {module!r} is not installed in the worker's environment"
    return Classification(kind="missing-module", cause=cause, subject=module, package=package,
                          fix=f"pip install '{package}' in the environment the worker runs in (the same venv/"
                              f"image), then restart the worker")


@_rule
def _cannot_import_name(name: str, msg: str) -> Classification | None:
    m = re.search(r"cannot import name ['\"](?P<n>[^'\"]+)['\"] from ['\"](?P<m>[^'\"]+)['\"]", msg)
    if name != "ImportError" or not m:
        return None
    if "circular import" in msg:
        return Classification(kind="circular-import", subject=m["m"],
                              cause=f"circular import: {m['m']} is imported while it is still being initialised",
                              fix=f"move the import of {m['n']!r} inside the function that uses it, or break the "
                                  f"cycle between the modules")
    package = package_for(m["m"])
    return Classification(kind="version-mismatch", subject=m["m"], package=package,
                          cause=f"the installed {package} has no {m['n']!r}: a different version than the code "
                                f"was written for",
                          fix=f"install the version the code expects (pip install '{package}==<version>'; "
                              f"check the project's pins), or update the import")


@_rule
def _shared_library(name: str, msg: str) -> Classification | None:
    m = re.search(r"(?P<lib>lib[\w.+-]+\.so[\w.]*): cannot open shared object file", msg)
    if not m:
        return None
    return Classification(kind="missing-system-library", subject=m["lib"],
                          cause=f"the system library {m['lib']} a compiled extension needs is not installed",
                          fix=f"install the OS package that provides {m['lib']} (apt-file search {m['lib']}) in "
                              f"the worker's image or machine")


@_rule
def _no_attribute(name: str, msg: str) -> Classification | None:
    m = re.search(r"module ['\"](?P<m>[^'\"]+)['\"] has no attribute ['\"](?P<a>[^'\"]+)['\"]", msg)
    if name != "AttributeError" or not m:
        return None
    return Classification(kind="missing-attribute", subject=m["m"],
                          cause=f"module {m['m']} defines no {m['a']!r} (a typo in the class name, or another "
                                f"version of the module)",
                          fix=f"check the name in module:Class ({m['m']}:{m['a']}) against the module, and the "
                              f"installed version")


@_rule
def _agent_not_found(name: str, msg: str) -> Classification | None:
    m = re.search(r"Agent (?P<t>\S+) not found", msg)
    if not m:
        return None
    return Classification(kind="agent-not-found",
                          cause=f"no worker has registered agent type {m['t']!r} with the host",
                          fix=f"start the worker that registers {m['t']!r} (or fix the type name in the sender)")


@_rule
def _already_registered(name: str, msg: str) -> Classification | None:
    if "already registered" not in msg.lower():
        return None
    return Classification(kind="duplicate-registration",
                          cause="the agent type is already registered (by another worker, or twice in one)",
                          fix="register each agent type on exactly one worker; stop the duplicate or rename the "
                              "type (the AgentRpc host has no load balancing)")


@_rule
def _too_large(name: str, msg: str) -> Classification | None:
    low = msg.lower()
    if "resource_exhausted" in low or "larger than max" in low or "message too large" in low:
        return Classification(kind="message-too-large",
                              cause="a message exceeded gRPC's maximum message size (4 MiB by default)",
                              fix="send large data by reference (a URL, a key in Redis/object storage) instead of "
                                  "inline, or raise grpc.max_send/receive_message_length on host and workers")
    return None


@_rule
def _no_serializer(name: str, msg: str) -> Classification | None:
    if not re.search(r"Unknown type \S+|no serializer|not serializable|Object of type \S+ is not JSON", msg,
                     re.IGNORECASE):
        return None
    if "NoneType" in msg:
        return Classification(kind="handler-returned-none",
                              cause="a message handler returned None to a direct message (send_message): there "
                                    "is no serializer for NoneType, so the caller never gets a reply",
                              fix="return a message object from the handler (or publish instead of send when no "
                                  "reply is meant)")
    return Classification(kind="serializer-missing",
                          cause="the handler's reply type has no registered serializer, so no reply is sent",
                          fix="register the reply type: runtime.add_message_serializer("
                              "try_get_known_serializers_for_type(ReplyType))")


@_rule
def _bad_payload(name: str, msg: str) -> Classification | None:
    if name == "JSONDecodeError" or "Expecting value" in msg or "Unterminated string" in msg:
        return Classification(kind="payload-malformed", cause="the message payload is not valid JSON",
                              fix="send a JSON body that matches the message class (payload_type) the agent "
                                  "handles")
    if name == "TypeError" and re.search(r"unexpected keyword argument|missing \d+ required|required positional",
                                         msg):
        return Classification(kind="payload-fields",
                              cause="the payload's fields do not match the message class's constructor",
                              fix="send exactly the fields the message dataclass/pydantic model declares")
    if name == "ValidationError":
        return Classification(kind="payload-fields", cause="the payload failed the message model's validation",
                              fix="send a payload that satisfies the pydantic model the agent handles")
    if re.search(r"Unhandled message|Unknown message type|No handler for", msg, re.IGNORECASE):
        return Classification(kind="payload-type-unknown",
                              cause="the agent has no handler for this message type (payload_type)",
                              fix="send a message type the agent handles, or add a @message_handler for it")
    return None


@_rule
def _refused(name: str, msg: str) -> Classification | None:
    low = msg.lower()
    if name in ("ConnectionRefusedError",) or "connection refused" in low or "econnrefused" in low:
        where = _endpoint(msg)
        return Classification(kind="connection-refused",
                              cause=f"nothing accepts connections at {where or 'the address'}: the service is "
                                    f"down or listens elsewhere",
                              fix=f"start the service at {where or 'that address'} (or fix host/port in the "
                                  f"worker's configuration), then retry")
    return None


@_rule
def _dns(name: str, msg: str) -> Classification | None:
    low = msg.lower()
    if name == "gaierror" or any(f in low for f in ("name or service not known", "temporary failure in name "
                                                    "resolution", "nodename nor servname", "dns resolution failed",
                                                    "could not resolve host", "getaddrinfo failed")):
        return Classification(kind="dns", cause="a host name in the configuration does not resolve",
                              fix="fix the host name (or the DNS/hosts entry) the worker connects to")
    return None


@_rule
def _permission(name: str, msg: str) -> Classification | None:
    low = msg.lower()
    if name == "PermissionError" or "permission denied" in low or "operation not permitted" in low:
        path = _quoted(msg)
        access = f"chown/chmod {path}" if path else "fix ownership/mode"
        return Classification(kind="permission-denied", subject=path,
                              cause=f"the process's user may not access {path or 'a file or socket it needs'}",
                              fix=f"give the worker's user access ({access}) or run it as the user that owns it; "
                                  f"never as root to paper over it")
    return None


@_rule
def _timeout(name: str, msg: str) -> Classification | None:
    low = msg.lower()
    if name in ("TimeoutError", "TimeoutExpired", "ReadTimeout", "ConnectTimeout", "CancelledError") \
            or "timed out" in low or "deadline_exceeded" in low or "deadline exceeded" in low:
        return Classification(kind="timeout",
                              cause="a call did not finish in time: the peer is slow, overloaded or unreachable "
                                    "(a firewall that drops packets looks the same)",
                              fix="check the peer's health and latency (agentops health), then raise the timeout "
                                  "only if the peer is merely slow")
    return None


@_rule
def _address_in_use(name: str, msg: str) -> Classification | None:
    if "address already in use" in msg.lower() or "failed to bind" in msg.lower():
        return Classification(kind="address-in-use", cause="the port the process wants to listen on is taken",
                              fix="stop the other process on that port (ss -ltnp) or configure another port")
    return None


@_rule
def _file_not_found(name: str, msg: str) -> Classification | None:
    if name != "FileNotFoundError" and "No such file or directory" not in msg:
        return None
    path = _quoted(msg)
    return Classification(kind="file-not-found", subject=path,
                          cause=f"a file the process needs does not exist: {path or msg}",
                          fix="create it or fix the path in the configuration (relative paths resolve against "
                              "the process's working directory)")


@_rule
def _env_var(name: str, msg: str) -> Classification | None:
    key = _quoted(msg) or msg.strip("'\"")
    if name == "KeyError" and re.fullmatch(r"[A-Z][A-Z0-9_]{2,}", key or ""):
        return Classification(kind="missing-env", subject=key,
                              cause=f"environment variable {key} is not set (os.environ[{key!r}])",
                              fix=f"set {key} in the worker's environment (service unit, container env, secret)")
    if re.search(r"api[_ ]key|OPENAI_API_KEY|credentials? (?:were )?not (?:found|provided)", msg, re.IGNORECASE) \
            and name not in ("AuthenticationError",):
        return Classification(kind="missing-credentials", cause="a credential (API key) is not configured",
                              fix="provide the key through the worker's environment or secret store")
    return None


@_rule
def _auth(name: str, msg: str) -> Classification | None:
    if name in ("AuthenticationError", "AuthError") or re.search(
            r"\b401\b|unauthori[sz]ed|invalid api key|authentication failed|password authentication failed",
            msg, re.IGNORECASE):
        return Classification(kind="auth", cause="credentials were rejected",
                              fix="check the key/password the worker uses (rotated? wrong environment?)")
    if name == "RateLimitError" or re.search(r"\b429\b|rate limit", msg, re.IGNORECASE):
        return Classification(kind="rate-limited", cause="the upstream API is rate-limiting the worker",
                              fix="lower the request rate or concurrency, add backoff, or raise the quota")
    return None


@_rule
def _memory(name: str, msg: str) -> Classification | None:
    if name == "MemoryError" or "cannot allocate memory" in msg.lower():
        return Classification(kind="out-of-memory", cause="the process ran out of memory",
                              fix="find what holds memory (agentops profile), fix the leak or give the worker "
                                  "more memory")
    return None


@_rule
def _syntax(name: str, msg: str) -> Classification | None:
    if name in ("SyntaxError", "IndentationError", "TabError"):
        return Classification(kind="syntax-error", cause=f"the agent's source does not compile: {msg}",
                              fix="fix the code at the file:line of the error (and run the module's tests)")
    return None


@_rule
def _request_id_key(name: str, msg: str) -> Classification | None:
    if name == "KeyError" and re.fullmatch(r"['\"]?[\w-]{1,64}['\"]?", msg) and not _env_var(name, msg):
        return Classification(kind="unknown-key",
                              cause=f"a lookup of {msg} failed; in the AgentRpc host a KeyError on a request id "
                                    f"means a response came for a request it no longer waits for (request ids "
                                    f"reused by two callers, microsoft/autogen#7016)",
                              fix="if this is the host's _process_response: make request ids unique per caller; "
                                  "otherwise check where the key should have been set")
    return None


def _endpoint(msg: str) -> str | None:
    """"('127.0.0.1', 6379)" (asyncio) or "ipv4:127.0.0.1:6379" / "host:port" (gRPC, libpq) → "host:port"."""
    m = re.search(r"\(['\"](?P<h>[^'\"]+)['\"],\s*(?P<p>\d{1,5})\)", msg)
    if m:
        return f"{m['h']}:{m['p']}"
    m = re.search(r"(?:ipv[46]:)?(?P<hp>\[?[\w.:-]*[\w\]]:\d{2,5})\b", msg)
    return m["hp"] if m else None
