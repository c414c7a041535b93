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

from agentops.core.knowledge import Explanation
from agentops.logs.classify_texts import TEXTS

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


@dataclass(init=False)
class Classification:
    """What an error means. `kind` is a stable id (missing-module, connection-refused, …) for rules and JSON;
    `explanation` is its cause and fix, a text of `classify_texts.TEXTS` filled with what the rule read."""

    kind: str
    explanation: Explanation
    exception: str = ""  # the exception type the classification rests on (bare name)
    message: str = ""  # its message, one line
    location: str = ""  # "file:line in func" of the innermost frame, when the text had one
    package: str | None = None  # missing-module, version-mismatch: what to pip install
    subject: str | None = None  # what it is about: the module, file, library, variable
    evidence: list[str] = field(default_factory=list)

    def __init__(self, kind: str, cause: str = "", fix: str = "", exception: str = "", message: str = "",
                 location: str = "", package: str | None = None, subject: str | None = None,
                 evidence: list[str] | None = None, *, explanation: Explanation | None = None) -> None:
        # cause/fix positionally: a caller's own words for a case the table does not cover (diagnose's
        # "the interpreter exited" when there is no error text at all); the rules pass `explanation`.
        self.kind = kind
        self.explanation = explanation or Explanation(cause, fix)
        self.exception, self.message, self.location = exception, message, location
        self.package, self.subject = package, subject
        self.evidence = list(evidence or [])

    @property
    def cause(self) -> str:
        return self.explanation.cause

    @cause.setter
    def cause(self, text: str) -> None:
        self.explanation = Explanation(text, self.explanation.fix)

    @property
    def fix(self) -> str:
        return self.explanation.fix

    @fix.setter
    def fix(self, text: str) -> None:
        self.explanation = Explanation(self.explanation.cause, text)

    @property
    def known(self) -> bool:
        return self.kind != "unclassified"

    def to_dict(self) -> dict[str, Any]:
        doc = {"kind": self.kind, **self.explanation.to_dict(), "exception": self.exception,
               "message": self.message, "location": self.location, "package": self.package,
               "subject": self.subject, "evidence": self.evidence}
        return {k: v for k, v in doc.items() if v not in (None, "", [])}


def _classified(kind: str, variant: str = "", *, package: str | None = None, subject: str | None = None,
                **values: object) -> Classification:
    """The classification `kind` worded by its table text, filled with the values the rule read (package and
    subject are values of the text too)."""
    text = TEXTS[kind, variant].filled({"package": package, "subject": subject, **values})
    return Classification(kind, package=package, subject=subject, explanation=text)


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


# grpc.aio's AioRpcError prints its status and details on indented lines under a "<AioRpcError of RPC …:"
# head, which a traceback reader skips as quoted source; folded into one exception line so it can be read.
_RPC_STATUS = re.compile(r"status = StatusCode\.(\w+)")
_RPC_DETAILS = re.compile(r'details = "(.*)"')
_RPC_FOLDED = "\nAioRpcError: "


def fold_rpc_error(text: str) -> str:
    """A traceback ending in an AioRpcError, with its status and details as one more exception line."""
    status, details = _RPC_STATUS.search(text), _RPC_DETAILS.search(text)
    if "AioRpcError" not in text or details is None or _RPC_FOLDED in text:
        return text
    return f"{text.rstrip()}{_RPC_FOLDED}{status.group(1) if status else 'UNKNOWN'}: {details.group(1)}\n"


def classify_text(text: str) -> Classification:
    """Classify a pasted traceback, log excerpt or one-line error.

    Chained tracebacks ("During handling of the above exception…") are read whole: the most specific known
    exception wins over a generic wrapper (a RuntimeError raised from a ConnectionRefusedError is a refused
    connection); among equals, the last (outermost) one. A gRPC AioRpcError is read by its status and details."""
    lines = exception_lines(fold_rpc_error(text))
    if not lines:
        one = " ".join(text.split())[:300]
        guess = _classify_plain(one)
        if guess:
            return guess
        return _classified("unclassified", "no-exception-line", excerpt=one[:80]) if one else \
            _classified("unclassified", "empty")
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
    c = next((found for rule in _RULES if (found := rule(name, message)) is not None), None) or \
        _classified("unclassified", "" if message else "no-message", exception=name, message=message)
    c.exception, c.message = name, message
    return c


def _classify_plain(text: str) -> Classification | None:
    """No traceback, just words ("connection refused", "permission denied"): classify by message alone."""
    c = classify_exception("Error", text)
    if not c.known:
        return None
    c.exception = ""
    return c


# ----------------------------------------------------------------------------------------------- rules
# Each rule decides whether the error is its kind and reads the values its text needs; the words are in
# classify_texts.TEXTS.

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
    extra = "." in module and (module in MODULE_EXTRAS or package.endswith("]"))
    return _classified("missing-module", "extra" if extra else "", subject=module, package=package,
                       module=module)


@_rule
def _cannot_import_name(name: str, msg: str) -> Classification | None:
    # Python says "from 'pkg.mod'", or for a module caught mid-import "from partially initialized module 'pkg.mod'".
    m = re.search(r"cannot import name ['\"](?P<n>[^'\"]+)['\"] from (?:partially initialized module )?"
                  r"['\"](?P<m>[^'\"]+)['\"]", msg)
    if name != "ImportError" or not m:
        return None
    if "circular import" in msg:
        return _classified("circular-import", subject=m["m"], module=m["m"], name=m["n"])
    return _classified("version-mismatch", subject=m["m"], package=package_for(m["m"]), name=m["n"])


@_rule
def _shared_library(name: str, msg: str) -> Classification | None:
    m = re.search(r"(?P<lib>lib[\w.+-]+\.so[\w.]*): cannot open shared object file", msg)
    if not m:
        return None
    return _classified("missing-system-library", subject=m["lib"], library=m["lib"])


@_rule
def _no_attribute(name: str, msg: str) -> Classification | None:
    m = re.search(r"module ['\"](?P<m>[^'\"]+)['\"] has no attribute ['\"](?P<a>[^'\"]+)['\"]", msg)
    if name != "AttributeError" or not m:
        return None
    return _classified("missing-attribute", subject=m["m"], module=m["m"], name=m["a"])


@_rule
def _agent_not_found(name: str, msg: str) -> Classification | None:
    m = re.search(r"Agent (?P<t>\S+) not found", msg)
    if not m:
        return None
    return _classified("agent-not-found", agent_type=m["t"])


@_rule
def _already_registered(name: str, msg: str) -> Classification | None:
    return _classified("duplicate-registration") if "already registered" in msg.lower() else None


@_rule
def _too_large(name: str, msg: str) -> Classification | None:
    low = msg.lower()
    if "resource_exhausted" in low or "larger than max" in low or "message too large" in low:
        return _classified("message-too-large")
    return None


@_rule
def _no_serializer(name: str, msg: str) -> Classification | None:
    if not re.search(r"Unknown type \S+|no serializer|not serializable|Object of type \S+ is not JSON", msg,
                     re.IGNORECASE):
        return None
    return _classified("handler-returned-none" if "NoneType" in msg else "serializer-missing")


@_rule
def _bad_payload(name: str, msg: str) -> Classification | None:
    if name == "JSONDecodeError" or "Expecting value" in msg or "Unterminated string" in msg:
        return _classified("payload-malformed")
    if name == "TypeError" and re.search(r"unexpected keyword argument|missing \d+ required|required positional",
                                         msg):
        return _classified("payload-fields")
    if name == "ValidationError":
        return _classified("payload-fields", "validation")
    if re.search(r"Unhandled message|Unknown message type|No handler for", msg, re.IGNORECASE):
        return _classified("payload-type-unknown")
    return None


@_rule
def _refused(name: str, msg: str) -> Classification | None:
    low = msg.lower()
    if name in ("ConnectionRefusedError",) or "connection refused" in low or "econnrefused" in low:
        where = _endpoint(msg)
        return _classified("connection-refused", "" if where else "no-endpoint", endpoint=where)
    return None


@_rule
def _dns(name: str, msg: str) -> Classification | None:
    low = msg.lower()
    if name == "gaierror" or any(f in low for f in ("name or service not known", "temporary failure in name "
                                                    "resolution", "nodename nor servname", "dns resolution failed",
                                                    "could not resolve host", "getaddrinfo failed")):
        return _classified("dns")
    return None


@_rule
def _permission(name: str, msg: str) -> Classification | None:
    low = msg.lower()
    if name == "PermissionError" or "permission denied" in low or "operation not permitted" in low:
        path = _quoted(msg)
        return _classified("permission-denied", "" if path else "no-path", subject=path, path=path)
    return None


@_rule
def _timeout(name: str, msg: str) -> Classification | None:
    low = msg.lower()
    if name in ("TimeoutError", "TimeoutExpired", "ReadTimeout", "ConnectTimeout", "CancelledError") \
            or "timed out" in low or "deadline_exceeded" in low or "deadline exceeded" in low:
        return _classified("timeout")
    return None


@_rule
def _address_in_use(name: str, msg: str) -> Classification | None:
    if "address already in use" in msg.lower() or "failed to bind" in msg.lower():
        return _classified("address-in-use")
    return None


@_rule
def _file_not_found(name: str, msg: str) -> Classification | None:
    if name != "FileNotFoundError" and "No such file or directory" not in msg:
        return None
    path = _quoted(msg)
    return _classified("file-not-found", subject=path, path=path or msg)


@_rule
def _env_var(name: str, msg: str) -> Classification | None:
    key = _quoted(msg) or msg.strip("'\"")
    if name == "KeyError" and re.fullmatch(r"[A-Z][A-Z0-9_]{2,}", key or ""):
        return _classified("missing-env", subject=key, variable=key)
    if re.search(r"api[_ ]key|OPENAI_API_KEY|credentials? (?:were )?not (?:found|provided)", msg, re.IGNORECASE) \
            and name not in ("AuthenticationError",):
        return _classified("missing-credentials")
    return None


@_rule
def _auth(name: str, msg: str) -> Classification | None:
    if name in ("AuthenticationError", "AuthError") or re.search(
            r"\b401\b|unauthori[sz]ed|invalid api key|authentication failed|password authentication failed",
            msg, re.IGNORECASE):
        return _classified("auth")
    if name == "RateLimitError" or re.search(r"\b429\b|rate limit", msg, re.IGNORECASE):
        return _classified("rate-limited")
    return None


@_rule
def _memory(name: str, msg: str) -> Classification | None:
    if name == "MemoryError" or "cannot allocate memory" in msg.lower():
        return _classified("out-of-memory")
    return None


@_rule
def _syntax(name: str, msg: str) -> Classification | None:
    if name in ("SyntaxError", "IndentationError", "TabError"):
        return _classified("syntax-error", message=msg)
    return None


@_rule
def _request_id_key(name: str, msg: str) -> Classification | None:
    if name == "KeyError" and re.fullmatch(r"['\"]?[\w-]{1,64}['\"]?", msg) and not _env_var(name, msg):
        return _classified("unknown-key", key=msg)
    return None


def _endpoint(msg: str) -> str | None:
    """"('127.0.0.1', 6379)" (asyncio) or "ipv4:127.0.0.1:6379" / "host:port" (gRPC, libpq) → "host:port"."""
    m = re.search(r"\(['\"](?P<h>[^'\"]+)['\"],\s*(?P<p>\d{1,5})\)", msg)
    if m:
        return f"{m['h']}:{m['p']}"
    m = re.search(r"(?:ipv[46]:)?(?P<hp>\[?[\w.:-]*[\w\]]:\d{2,5})\b", msg)
    return m["hp"] if m else None
