"""What each error classification means, as data: the cause and fix of every kind `logs.classify` names.

Keys are (kind, variant): a kind has more than one wording only where the rule knows more or less (a refused
connection with or without its address). Texts are `str.format` templates over the values a rule read from
the error text ({module}, {package}, {path}, …); the values are inserted by `core.knowledge.fill`, never used
as templates, so an error message holding "{x}" or "[bold]" is shown as written.
"""

from __future__ import annotations

from agentops.core.knowledge import Explanation

# Wordings more than one text shares.
_INSTALL_IN_WORKER_ENV = ("pip install '{package}' in the environment the worker runs in (the same venv/image), "
                          "then restart the worker")
_FIX_AT_FRAME = "read the traceback's innermost frame (file:line) and fix the code or input there"
_PASTE_WHOLE = "paste the whole traceback, ending with its 'Type: message' line"

TextKey = tuple[str, str]  # (kind, variant); variant "" is the kind's usual wording

TEXTS: dict[TextKey, Explanation] = {
    ("missing-module", ""): Explanation(
        "Python module {module!r} is not installed in the worker's environment",
        _INSTALL_IN_WORKER_ENV),
    ("missing-module", "extra"): Explanation(
        "module {module!r} is part of an optional extra that is not installed",
        _INSTALL_IN_WORKER_ENV),
    ("circular-import", ""): Explanation(
        "circular import: {module} is imported while it is still being initialised",
        "move the import of {name!r} inside the function that uses it, or break the cycle between the modules"),
    ("version-mismatch", ""): Explanation(
        "the installed {package} has no {name!r}: a different version than the code was written for",
        "install the version the code expects (pip install '{package}==<version>'; check the project's pins), or "
        "update the import"),
    ("missing-system-library", ""): Explanation(
        "the system library {library} a compiled extension needs is not installed",
        "install the OS package that provides {library} (apt-file search {library}) in the worker's image or "
        "machine"),
    ("missing-attribute", ""): Explanation(
        "module {module} defines no {name!r} (a typo in the class name, or another version of the module)",
        "check the name in module:Class ({module}:{name}) against the module, and the installed version"),
    ("agent-not-found", ""): Explanation(
        "no worker has registered agent type {agent_type!r} with the host",
        "start the worker that registers {agent_type!r} (or fix the type name in the sender)"),
    ("duplicate-registration", ""): Explanation(
        "the agent type is already registered (by another worker, or twice in one)",
        "register each agent type on exactly one worker; stop the duplicate or rename the type (the AgentRpc "
        "host has no load balancing)"),
    ("message-too-large", ""): Explanation(
        "a message exceeded gRPC's maximum message size (4 MiB by default)",
        "send large data by reference (a URL, a key in Redis/object storage) instead of inline, or raise "
        "grpc.max_send/receive_message_length on host and workers"),
    ("handler-returned-none", ""): Explanation(
        "a message handler returned None to a direct message (send_message): there is no serializer for "
        "NoneType, so the caller never gets a reply",
        "return a message object from the handler (or publish instead of send when no reply is meant)"),
    ("serializer-missing", ""): Explanation(
        "the handler's reply type has no registered serializer, so no reply is sent",
        "register the reply type: runtime.add_message_serializer(try_get_known_serializers_for_type(ReplyType))"),
    ("payload-malformed", ""): Explanation(
        "the message payload is not valid JSON",
        "send a JSON body that matches the message class (payload_type) the agent handles"),
    ("payload-fields", ""): Explanation(
        "the payload's fields do not match the message class's constructor",
        "send exactly the fields the message dataclass/pydantic model declares"),
    ("payload-fields", "validation"): Explanation(
        "the payload failed the message model's validation",
        "send a payload that satisfies the pydantic model the agent handles"),
    ("payload-type-unknown", ""): Explanation(
        "the agent has no handler for this message type (payload_type)",
        "send a message type the agent handles, or add a @message_handler for it"),
    ("connection-refused", ""): Explanation(
        "nothing accepts connections at {endpoint}: the service is down or listens elsewhere",
        "start the service at {endpoint} (or fix host/port in the worker's configuration), then retry"),
    ("connection-refused", "no-endpoint"): Explanation(
        "nothing accepts connections at the address: the service is down or listens elsewhere",
        "start the service at that address (or fix host/port in the worker's configuration), then retry"),
    ("dns", ""): Explanation(
        "a host name in the configuration does not resolve",
        "fix the host name (or the DNS/hosts entry) the worker connects to"),
    ("permission-denied", ""): Explanation(
        "the process's user may not access {path}",
        "give the worker's user access (chown/chmod {path}) or run it as the user that owns it; never as root to "
        "paper over it"),
    ("permission-denied", "no-path"): Explanation(
        "the process's user may not access a file or socket it needs",
        "give the worker's user access (fix ownership/mode) or run it as the user that owns it; never as root to "
        "paper over it"),
    ("timeout", ""): Explanation(
        "a call did not finish in time: the peer is slow, overloaded or unreachable (a firewall that drops "
        "packets looks the same)",
        "check the peer's health and latency (agentops health), then raise the timeout only if the peer is "
        "merely slow"),
    ("address-in-use", ""): Explanation(
        "the port the process wants to listen on is taken",
        "stop the other process on that port (ss -ltnp) or configure another port"),
    ("file-not-found", ""): Explanation(
        "a file the process needs does not exist: {path}",
        "create it or fix the path in the configuration (relative paths resolve against the process's working "
        "directory)"),
    ("missing-env", ""): Explanation(
        "environment variable {variable} is not set (os.environ[{variable!r}])",
        "set {variable} in the worker's environment (service unit, container env, secret)"),
    ("missing-credentials", ""): Explanation(
        "a credential (API key) is not configured",
        "provide the key through the worker's environment or secret store"),
    ("auth", ""): Explanation(
        "credentials were rejected",
        "check the key/password the worker uses (rotated? wrong environment?)"),
    ("rate-limited", ""): Explanation(
        "the upstream API is rate-limiting the worker",
        "lower the request rate or concurrency, add backoff, or raise the quota"),
    ("out-of-memory", ""): Explanation(
        "the process ran out of memory",
        "find what holds memory (agentops profile), fix the leak or give the worker more memory"),
    ("syntax-error", ""): Explanation(
        "the agent's source does not compile: {message}",
        "fix the code at the file:line of the error (and run the module's tests)"),
    ("unknown-key", ""): Explanation(
        "a lookup of {key} failed; in the AgentRpc host a KeyError on a request id means a response came for a "
        "request it no longer waits for (request ids reused by two callers, microsoft/autogen#7016)",
        "if this is the host's _process_response: make request ids unique per caller; otherwise check where the "
        "key should have been set"),
    ("unclassified", ""): Explanation(
        "the code raised {exception}: {message}",
        _FIX_AT_FRAME),
    ("unclassified", "no-message"): Explanation(
        "the code raised {exception}",
        _FIX_AT_FRAME),
    ("unclassified", "no-exception-line"): Explanation(
        "no exception line found in the text ({excerpt!r}…)",
        _PASTE_WHOLE),
    ("unclassified", "empty"): Explanation(
        "empty error text",
        _PASTE_WHOLE),
}
