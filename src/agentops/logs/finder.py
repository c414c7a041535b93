"""Find a needle in a log buffer through its rarest byte when that is faster than `bytes.find`.

`bytes.find` on a multi-byte needle (CPython's two-way search with a skip table) advances a few bytes per step
through log text, whose quotes, spaces and lower-case letters are the same bytes the needles are made of:
about 0.4 s per GB for `"level": "ERROR"`. A single byte is found with `memchr`, which runs at memory speed
(about 0.1 s per GB here). So, like grep and ripgrep, a needle is searched by a byte it contains once and that
logs seldom contain (an upper-case letter, a bracket), and each hit is checked for the whole needle in place.

Which bytes are rare depends on the log: "E" is rare in an INFO log and on every line of a DEBUG one. So the
choice adapts, as ripgrep's prefilter does when it turns out ineffective: hits that are not the needle are
counted against a budget per chunk; a byte that overruns it gives way to the next candidate (from that hit on,
in this chunk and later ones), and a needle with no byte left is searched with `bytes.find` for a while before
the bytes are tried again.
The answer never depends on the choice, only the speed: every method finds the same occurrences.
"""

from __future__ import annotations

# Upper-case letters that logs write on most lines: level names (INFO, DEBUG, WARNING) and the T and Z of ISO
# timestamps. Other upper-case letters and brackets are rarer; lower-case letters, digits, spaces, quotes and
# the punctuation of JSON are everywhere and never worth a memchr.
_LIKELY = frozenset(b"INFODEBUGWARTZ")
_RARE_PUNCT = frozenset(b"()[]<>!?;|~^`&%$#@*+")

MISS_BUDGET = 1 << 12  # at most one non-matching hit per this many bytes searched before giving up a byte
RETRY_AFTER = 32  # calls of `start_chunk` a needle searches with bytes.find after every byte overran


def rare_bytes(needle: bytes) -> list[tuple[int, int]]:
    """(byte, its offset in the needle) for the bytes worth a memchr, rarest first: bytes that occur once in the
    needle (so a needle occurrence holds exactly one, at a known offset) and are seldom in log text."""
    found = []
    for k, b in enumerate(needle):
        if needle.count(b) != 1:
            continue
        if b in _RARE_PUNCT or (0x41 <= b <= 0x5A and b not in _LIKELY):
            found.append((0, k, b))
        elif b in _LIKELY:
            found.append((1, k, b))
    return [(b, k) for _, k, b in sorted(found)]


class Finder:
    """`find(buf, pos, end)` returns what `buf.find(needle, pos, end)` does, by the fastest method so far."""

    __slots__ = ("budget", "candidates", "choice", "misses", "needle", "rest", "size")

    def __init__(self, needle: bytes) -> None:
        self.needle = needle
        self.size = len(needle)
        self.candidates = rare_bytes(needle) if len(needle) > 1 else []
        self.choice = 0  # index into candidates; len(candidates): bytes.find
        self.misses = 0
        self.budget = 0
        self.rest = 0  # chunks left on bytes.find before the rare bytes are tried again

    @property
    def method(self) -> str:
        """What the next search uses: a byte (as text) or "find"."""
        if self.choice < len(self.candidates):
            return chr(self.candidates[self.choice][0])
        return "find"

    def start_chunk(self, start: int, end: int) -> None:
        """A new buffer: a fresh miss budget in proportion to its size."""
        self.misses, self.budget = 0, (end - start) // MISS_BUDGET + 8
        if self.choice >= len(self.candidates) and self.candidates:
            self.rest -= 1
            if self.rest <= 0:
                self.choice = 0

    def find(self, buf: bytes, pos: int, end: int) -> int:
        if self.choice >= len(self.candidates):
            return buf.find(self.needle, pos, end)
        byte, k = self.candidates[self.choice]
        needle, size = self.needle, self.size
        i = buf.find(byte, pos + k, end)
        while i >= 0:
            s = i - k
            if s + size > end:
                return -1  # later hits start later still: no occurrence fits before `end`
            if buf.startswith(needle, s):
                return s
            self.misses += 1
            if self.misses > self.budget:
                self._give_up()
                return self.find(buf, s + 1, end)
            i = buf.find(byte, i + 1, end)
        return -1

    def _give_up(self) -> None:
        """The byte is too common here: the next candidate from now on, or bytes.find for a while."""
        self.choice += 1
        self.misses = 0
        if self.choice >= len(self.candidates):
            self.rest = RETRY_AFTER
