"""Text from servers, logs, payloads and configs is data: what each output format does with characters that
would otherwise act (move a terminal's cursor, end an XML document, start a new Nagios line).

Each control character is replaced by one visible character, so lengths and Rich spans stay as they were:
C0 controls and DEL by their Unicode "control pictures" (ESC -> ␛, NUL -> ␀, CR -> ␍), C1 controls (0x80-0x9f,
which some terminals execute as CSI and friends) by U+FFFD. JSON needs none of this (it escapes them itself).
"""

from __future__ import annotations

from functools import lru_cache

REPLACEMENT = "\ufffd"


@lru_cache(maxsize=8)
def _table(keep: str, xml: bool) -> dict[int, str]:
    table = {c: chr(0x2400 + c) for c in range(0x20)}
    table[0x7F] = "\u2421"
    table.update({c: REPLACEMENT for c in range(0x80, 0xA0)})
    if xml:  # XML 1.0 cannot carry these at all, not even as character references
        table.update({c: REPLACEMENT for c in (0xFFFE, 0xFFFF, *range(0xD800, 0xE000))})
    for ch in keep:
        table.pop(ord(ch), None)
    return table


def visible(text: str, keep: str = "\n\t") -> str:
    """`text` with every control character but those in `keep` made visible (one character for one)."""
    return text.translate(_table(keep, False))


def xml_text(text: str) -> str:
    """`text` as XML can carry it: tab and newline stay (attributes keep them as character references), every
    other control character is made visible, and the non-characters XML forbids become U+FFFD."""
    return text.translate(_table("\n\t", True))


def one_line(text: str) -> str:
    """`text` as a single line of a line-oriented format (Nagios): newlines become spaces, the rest visible."""
    return visible(text.replace("\r\n", " ").replace("\n", " "), keep="\t")
