"""`logs count` reads a JSON record's level with one regex and normalises each spelling once: the same count
as the full normaliser for every spelling, and a table that stays bounded whatever words a log writes."""

from __future__ import annotations

from agentops.logs import count
from agentops.logs.records import normalize_level


def test_each_spelling_reads_as_the_normaliser_reads_it() -> None:
    for word in (b"ERROR", b"error", b"Error", b"CRITICAL", b"fatal", b"warn", b"WARNING", b"info", b"Err",
                 b"panic", b"nonsense"):
        assert count._level_of(word) == normalize_level(word.decode()), word
        assert count._level_of(word) == normalize_level(word.decode()), word  # the second time from the table


def test_the_table_is_bounded_by_a_hostile_log() -> None:
    for i in range(500):
        count._level_of(b"word" + bytes([65 + i % 26]) * (1 + i // 26))
    assert len(count._LEVELS) <= 64
    assert count._level_of(b"ERROR") == "ERROR"
