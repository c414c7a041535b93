"""Size caps of a bundle's files: a file over its cap keeps its head and its tail, cut on line boundaries, with
one marker line in between saying how much was cut and why (the end of a log is where an incident is, its
start says what ran). The total cap is shared out so every file keeps some of both ends (water-filling: small
files whole, the large ones cut to one common size), rather than the last collector losing everything."""

from __future__ import annotations

# Room kept for the marker line, so a cut file is not longer than its cap.
MARKER_RESERVE = 160


def marker(cut: int, why: str) -> bytes:
    return f"\n... [agentops bundle: {cut} bytes cut here ({why}); the head and the tail are kept] ...\n".encode()


def keep_head_and_tail(data: bytes, limit: int, why: str) -> tuple[bytes, int]:
    """(data cut to at most `limit` bytes keeping its head and tail, bytes cut); unchanged when it fits."""
    if len(data) <= limit:
        return data, 0
    budget = max(0, limit - MARKER_RESERVE)
    head = data[:budget // 2]
    if (nl := head.rfind(b"\n")) >= 0:
        head = head[:nl + 1]
    tail = data[len(data) - (budget - budget // 2):] if budget else b""
    if (nl := tail.find(b"\n")) >= 0:
        tail = tail[nl + 1:]
    cut = len(data) - len(head) - len(tail)
    return head + marker(cut, why).lstrip(b"\n") + tail, cut


def shared_limit(sizes: list[int], total: int) -> int | None:
    """The one per-file size that makes `sizes` fit in `total` when every larger file is cut to it (None:
    they fit as they are)."""
    if sum(sizes) <= total:
        return None
    left = total
    ordered = sorted(sizes)
    for i, size in enumerate(ordered):
        share = left // (len(ordered) - i)
        if size > share:
            return share
        left -= size
    return None
