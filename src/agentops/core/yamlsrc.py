"""YAML loading that remembers where each value came from, so every config error names file, line and field."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from agentops.core.files import FileProblem, read_text, write_file


class ConfigError(Exception):
    """A user-facing problem with a config, pack or playbook file. Its text is one line: file:line: field: why."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.path = str(path) if path else None
        self.line = line
        self.field = field
        self.reason = message
        where = ""
        if self.path:
            where = self.path + (f":{line}" if line else "") + ": "
        super().__init__(f"{where}{field + ': ' if field else ''}{message}")


class Node(dict):
    """A mapping that knows its file and the line of each key."""

    path: str = ""
    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class NodeList(list):
    path: str = ""
    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


def _make_loader(path: str) -> Any:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        def construct_document(self, node: Any) -> Any:
            check_expansion(node, path)
            return super().construct_document(node)

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except (ConfigError, yaml.YAMLError, RecursionError):
                raise
            except Exception as exc:
                # A tag's constructor failing on its text (`!!float abc`, `!!int 1.5`, `!!timestamp x`) raises
                # whatever its parsing code meets first (ValueError, AttributeError, ...); all are the file's.
                shown = f" {str(node.value)[:60]!r}" if isinstance(node.value, str) else ""
                why = f": {exc}" if isinstance(exc, ValueError) else ""
                raise ConfigError(f"invalid {node.tag.rsplit(':', 1)[-1]} value{shown}{why}", path=path,
                                  line=node.start_mark.line + 1) from None

    def construct_mapping(loader: Any, node: Any) -> Node:
        loader.flatten_mapping(node)
        out = Node()
        out.path, out.line, out.key_lines = path, node.start_mark.line + 1, {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise ConfigError("mapping keys must be plain scalars", path=path, line=key_node.start_mark.line + 1)
            key = str(key)
            if key in out:
                raise ConfigError(f"duplicate key {key!r}", path=path, line=key_node.start_mark.line + 1)
            out[key] = loader.construct_object(value_node, deep=True)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out

    def construct_sequence(loader: Any, node: Any) -> NodeList:
        out = NodeList(loader.construct_object(child, deep=True) for child in node.value)
        out.path, out.line = path, node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    return Loader


MAX_FILE_BYTES = 4 * 1024 * 1024
# Aliases may reuse a value, not multiply it: a document may expand to its own size plus this many values
# (a scalar counts its length). Billion laughs is a 1 KB file that expands to 10^9 strings.
EXPANSION_ALLOWANCE = 1_000_000


def check_expansion(root: Any, path: str) -> None:
    """Refuse a document whose aliases expand past its size plus EXPANSION_ALLOWANCE, or refer to themselves,
    before anything walks it expanded (str() of a label, the pack cache's json.dumps). Each node is visited
    once (memoised), so the check costs the composed size, not the expanded one."""
    import yaml

    costs: dict[int, int] = {}
    own = 0
    open_nodes: set[int] = set()

    def cost(node: Any) -> int:
        nonlocal own
        key = id(node)
        if key in costs:
            return costs[key]
        if key in open_nodes:
            raise ConfigError("a YAML alias refers to the value that contains it", path=path,
                              line=node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            total = 1 + len(node.value)
            own += total
        else:
            open_nodes.add(key)
            children = [v for pair in node.value for v in pair] if isinstance(node, yaml.MappingNode) else node.value
            own += 1
            total = 1 + sum(cost(child) for child in children)
            open_nodes.discard(key)
        costs[key] = total
        if total > own + EXPANSION_ALLOWANCE:
            raise ConfigError(f"YAML aliases expand to more than {EXPANSION_ALLOWANCE:,} values beyond the file's "
                              f"own (an alias bomb?)", path=path, line=node.start_mark.line + 1)
        return total

    cost(root)
# A cached pack is the JSON of a file under MAX_FILE_BYTES whose aliases are bounded (see _check_expansion).
CACHE_MAX_BYTES = 4 * MAX_FILE_BYTES


def load_yaml_text(text: str, path: str) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=_make_loader(path))
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(f"invalid YAML: {exc.problem or exc.context}", path=path, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                          path=path) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", path=path) from None


def load_yaml_file(path: str | Path) -> Any:
    p = Path(path)
    try:
        text = read_text(p, limit=MAX_FILE_BYTES)
    except FileProblem as exc:
        raise ConfigError(str(exc), path=p) from None
    return load_yaml_text(text, str(p))


class Fields:
    """Typed, located access to one mapping of a config file; every error names file:line and the field path."""

    def __init__(self, node: Any, where: str, *, path: str = "", line: int = 0) -> None:
        if not isinstance(node, dict):
            raise ConfigError(f"expected a mapping, got {value_kind(node)}", path=getattr(node, "path", path) or path,
                              line=getattr(node, "line", line) or line, field=where or None)
        self.node = node
        self.where = where
        self.path = getattr(node, "path", "") or path
        self.line = getattr(node, "line", 0) or line
        self._used: set[str] = set()

    def _field(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _line(self, key: str) -> int:
        return self.node.line_of(key) if isinstance(self.node, Node) else self.line

    def error(self, key: str | None, message: str) -> ConfigError:
        if key is None:
            return ConfigError(message, path=self.path, line=self.line, field=self.where or None)
        return ConfigError(message, path=self.path, line=self._line(key), field=self._field(key))

    def has(self, key: str) -> bool:
        return key in self.node

    def get(self, key: str, types: type | tuple[type, ...], default: Any = None, *, required: bool = False) -> Any:
        self._used.add(key)
        if key not in self.node or self.node[key] is None:
            if required:
                raise self.error(None, f"missing required field {key!r}")
            return default
        value = self.node[key]
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise self.error(key, f"expected {_type_names(types)}, got a boolean")
        if not isinstance(value, types):
            raise self.error(key, f"expected {_type_names(types)}, got {value_kind(value)}")
        return value

    def str(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.get(key, (str, int, float), default, required=required)
        return None if value is None else str(value)

    def number(self, key: str, default: float | None = None, *, minimum: float | None = None,
               maximum: float | None = None) -> float | None:
        value = self.get(key, (int, float), default)
        if value is None:
            return None
        if not math.isfinite(value):
            # .nan passes every comparison below (a NaN timeout failed every check at once); .inf is no bound.
            raise self.error(key, f"must be a finite number, got {value}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be <= {maximum}, got {value}")
        return float(value)

    def int(self, key: str, default: int | None = None, *, minimum: int | None = None,
            maximum: int | None = None) -> int | None:
        value = self.get(key, int, default)
        if value is None:
            return None
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be <= {maximum}, got {value}")
        return value

    def bool(self, key: str, default: bool = False) -> bool:
        return bool(self.get(key, bool, default))

    def str_list(self, key: str) -> list[str]:
        value = self.get(key, (list, str), [])
        if isinstance(value, str):
            return [value]
        for i, item in enumerate(value):
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise ConfigError(f"expected a string, got {value_kind(item)}", path=self.path,
                                  line=value.line_of(i) if isinstance(value, NodeList) else self._line(key),
                                  field=f"{self._field(key)}[{i}]")
        return [str(v) for v in value]

    def mapping(self, key: str) -> dict[str, Any]:
        return dict(self.get(key, dict, {}))

    def sub(self, key: str) -> Fields | None:
        value = self.get(key, dict)
        return None if value is None else Fields(value, self._field(key), path=self.path, line=self._line(key))

    def reject_unknown(self, allowed: set[str] | None = None) -> None:
        allowed = self._used if allowed is None else allowed | self._used
        for key in self.node:
            if key not in allowed:
                hint = _closest(key, allowed)
                raise self.error(key, "unknown field" + (f" (did you mean {hint!r}?)" if hint else ""))


def _closest(word: str, options: set[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.7)
    return found[0] if found else None


def value_kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _type_names(types: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", dict: "a mapping",
             list: "a list"}
    ts = types if isinstance(types, tuple) else (types,)
    seen = []
    for t in ts:
        n = names.get(t, t.__name__)
        if n not in seen:
            seen.append(n)
    return " or ".join(seen)


def load_yaml_cached(path: str | Path) -> Any:
    """The parsed content of a YAML file without line information, through a JSON cache keyed by the file's
    path, size, mtime and the agentops version.

    Importing and running the YAML parser is a fifth of `agentops health`'s start-up; shipped packs rarely
    change. Callers validate the result as usual and, on a ConfigError, re-load with load_yaml_file so the
    error names the line (the cache holds only files that parsed)."""
    import hashlib
    import json
    import os

    from agentops import __version__

    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return load_yaml_file(p)
    key = hashlib.sha256(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}|{__version__}".encode()).hexdigest()[:32]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    cached = Path(base) / "agentops" / "yaml" / f"{key}.json"
    try:
        return json.loads(read_text(cached, limit=CACHE_MAX_BYTES))
    except (FileProblem, ValueError):
        pass
    doc = load_yaml_file(p)
    try:
        text = json.dumps(doc)
        if len(text) <= CACHE_MAX_BYTES:
            write_file(cached, text)
    except (FileProblem, TypeError, ValueError):
        pass  # not JSON-representable (YAML dates) or no writable cache: parse every time
    return doc
