"""What the reader and the parsers had to skip or repair, counted per input so the report can say how much
of the input was usable. Bad input is counted, never fatal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Counters that add up across inputs (names are the keys of the report's `bad_input` section).
BAD_INPUT_COUNTERS = (
    "invalid_utf8",  # lines that were not valid UTF-8 (decoded with replacement characters)
    "non_json",  # lines in a JSON log that were not JSON objects (read as plain text instead)
    "truncated_json",  # JSON lines cut short (a crash mid-write): fields recovered from what is there
    "oversized_lines",  # lines longer than the cap: only their head was kept
    "unterminated_lines",  # a last line without a newline (the writer was mid-line)
    "unreadable_inputs",  # files that could not be opened or read
    "skipped_inputs",  # not regular files (FIFOs, devices) or binary files
    "rotated_inputs",  # replaced by another file while being read (read to the end of the old one)
    "truncated_inputs",  # truncated while being read (what was beyond the cut is gone)
    "corrupt_gzip",  # gzip data that ended early or was damaged (what decompressed is kept)
    "untimed_records",  # records with no timestamp: counted, but not placed in time
    "bad_timestamps",  # records whose timestamp is not a time (inf, NaN, out of range): read as untimed
    "nul_bytes",  # NUL bytes skipped before the records (a copytruncate rotation leaves a run of them)
)


@dataclass
class SourceInfo:
    name: str
    component: str
    kind: str = "file"  # file | gzip | stdin | journal
    bytes: int = 0
    status: str = "read"  # read | unreadable | skipped | rotated | truncated | corrupt
    reason: str = ""
    has_text: bool = False  # a byte other than whitespace was read: there may be records (a gate needs some)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "component": self.component, "kind": self.kind,
                               "bytes": self.bytes, "status": self.status}
        if self.reason:
            doc["reason"] = self.reason
        return doc


@dataclass
class InputStats:
    sources: list[SourceInfo] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BAD_INPUT_COUNTERS, 0))

    def bump(self, counter: str, n: int = 1) -> None:
        self.counts[counter] += n

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.sources)

    def merge(self, other: InputStats) -> None:
        for key, value in other.counts.items():
            self.counts[key] += value

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": [s.to_dict() for s in self.sources],
            "bytes": self.bytes,
        }

    def bad_input(self) -> dict[str, int]:
        return dict(self.counts)

    def problems(self) -> list[str]:
        """One short phrase per non-zero counter, for a note under the table."""
        out = []
        for key in BAD_INPUT_COUNTERS:
            n = self.counts[key]
            if n and key != "untimed_records":
                out.append(f"{n} {key.replace('_', ' ')}")
        return out
