"""Output files and input files that are not plain files: devices, FIFOs, symlinks, sockets, directories.

The device tests make their own device nodes with mknod (root only) rather than write to the machine's
/dev/full: before the fix, the reproduction turned /dev/full into a regular file, which must not happen to
the shared machine the suite runs on. A node made with the same major/minor numbers is the same driver.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from tests.fixtures.common import assert_no_traceback, run_cli

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")

HEALTH = ("health", "--only", "host.load", "-o", "json", "--output-file")


def char_device(path: Path, minor: int) -> Path:
    """A node of the kernel's memory devices (major 1): 3 = null, 5 = zero, 7 = full, 9 = urandom."""
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    return path


def one_line_error(r) -> str:
    assert_no_traceback(r)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@needs_root
def test_output_file_on_a_full_device_is_a_write_error_and_the_device_stays(tmp_path: Path) -> None:
    full = char_device(tmp_path / "full", 7)
    r = run_cli(*HEALTH, str(full))
    assert r.code == 3, r
    assert "No space left on device" in one_line_error(r)
    assert stat.S_ISCHR(full.lstat().st_mode), "the device node was replaced"
    assert [p.name for p in tmp_path.iterdir()] == ["full"], "a temp file was left behind"


@needs_root
def test_output_file_writes_through_to_a_device(tmp_path: Path) -> None:
    null = char_device(tmp_path / "null", 3)
    r = run_cli(*HEALTH, str(null))
    assert r.code in (0, 1, 2), r
    assert stat.S_ISCHR(null.lstat().st_mode)


def test_output_file_writes_through_to_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    # The read end is open before agentops starts, as `cat out.fifo &` would be.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    chunks: list[bytes] = []
    try:
        r = run_cli(*HEALTH, str(fifo))
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    assert r.code in (0, 1, 2), r
    assert b'"schema"' in b"".join(chunks)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_output_file_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    r = run_cli(*HEALTH, str(link))
    assert r.code in (0, 1, 2), r
    assert link.is_symlink() and link.resolve() == real
    assert '"schema"' in real.read_text()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640, "a replaced file keeps its mode"


def test_output_file_refuses_a_socket_and_a_directory(tmp_path: Path) -> None:
    sock_path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock_path))
        r = run_cli(*HEALTH, str(sock_path))
        assert r.code == 3, r
        assert "socket" in one_line_error(r)
        assert stat.S_ISSOCK(sock_path.lstat().st_mode)
    d = tmp_path / "dir"
    d.mkdir()
    r = run_cli(*HEALTH, str(d))
    assert r.code == 3, r
    assert "directory" in one_line_error(r)
    assert d.is_dir() and not list(d.iterdir())


def test_a_new_output_file_follows_the_umask(tmp_path: Path) -> None:
    out = tmp_path / "agentops.prom"
    r = run_cli("health", "--only", "host.load", "-o", "prometheus", "--output-file", str(out))
    assert r.code in (0, 1, 2), r
    # The test process's umask is inherited by the child; a textfile collector running as another user
    # must be able to read what a 022 umask allows.
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask


def test_write_helper_refuses_what_it_cannot_replace(tmp_path: Path) -> None:
    from agentops.core.files import FileProblem, write_file

    d = tmp_path / "d"
    d.mkdir()
    with pytest.raises(FileProblem, match="is a directory"):
        write_file(d, "x")
    # A dangling link is followed too: the file it names is created, the link stays a link.
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "made.txt")
    write_file(link, "hello")
    assert link.is_symlink() and (tmp_path / "made.txt").read_text() == "hello"


# --- reads -------------------------------------------------------------------------------------------


@needs_root
def test_config_that_is_a_link_to_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    zero = char_device(tmp_path / "zero", 5)
    cfg = tmp_path / "agentops.yaml"
    cfg.symlink_to(zero)
    r = run_cli("config", "validate", "-c", str(cfg))
    assert r.code == 3, r
    assert "not a regular file" in one_line_error(r)


def test_config_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "agentops.yaml"
    os.mkfifo(fifo)
    r = run_cli("config", "validate", "-c", str(fifo), timeout=30)
    assert r.code == 3, r
    assert "not a regular file (a FIFO)" in one_line_error(r)


def test_read_helper_caps_by_bytes_read_not_by_st_size(tmp_path: Path) -> None:
    """/proc files report st_size 0 and can be longer than that: the cap counts what was read."""
    from agentops.core.files import FileProblem, read_file

    assert read_file("/proc/self/status", limit=1 << 20).startswith(b"Name:")
    with pytest.raises(FileProblem, match="larger than 10 bytes"):
        read_file("/proc/self/status", limit=10)


def test_read_helper_has_a_deadline(tmp_path: Path) -> None:
    """A reader stuck on a source that never ends (a FIFO whose writer never closes) is stopped by the
    deadline even where a non-regular file is allowed."""
    from agentops.core.files import FileProblem, read_file

    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    # O_RDWR on a FIFO (Linux) holds a write end open without waiting for a reader: the source never ends.
    held = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(held, b"x")
        with pytest.raises(FileProblem, match="not read within"):
            read_file(fifo, limit=1024, regular_only=False, deadline_s=0.5)
    finally:
        os.close(held)


def test_installed_schedule_files_are_readable_by_cron_and_systemd(tmp_path: Path) -> None:
    """Units and cron.d files are read by cron/systemd (and reviewed by people): 0644 under the usual umask,
    and never group- or world-writable (cron refuses such a file) whatever the umask."""
    for fmt in ("cron", "systemd"):
        out = tmp_path / fmt
        r = run_cli("maintain", "schedule", "daily", "--cron", "0 3 * * *", "--format", fmt, "--install", str(out))
        assert r.code == 0, r
        mask = os.umask(0)
        os.umask(mask)
        for f in out.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o644 & ~mask, (f, oct(f.stat().st_mode))


def health_results(tmp_path: Path, targets: str, env: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """(reason, message) per target of a real `agentops health -o json` run over these targets."""
    cfg = tmp_path / "agentops.yaml"
    cfg.write_text("packs: [redis, postgres, http]\ntargets:\n" + targets)
    r = run_cli("health", "-c", str(cfg), "-o", "json", "--only", "redis.ping,postgres.connect,http.endpoint", env=env)
    assert_no_traceback(r)
    assert r.code in (1, 2, 3), r
    return {res["target"]: (res["reason"], res["message"]) for res in r.json()["results"]}


@needs_root
def test_secret_and_tls_files_that_are_devices_are_refused_as_config_reasons(tmp_path: Path) -> None:
    """password_file and tls.ca as links to /dev/urandom and /dev/zero: refused at once, not read (it read
    2.6 GB before MemoryError), and reported as the config's fault (unsupported / tls), never internal."""
    urandom = tmp_path / "urandom-link"
    urandom.symlink_to(char_device(tmp_path / "urandom", 9))
    zero = tmp_path / "zero-link"
    zero.symlink_to(char_device(tmp_path / "zero", 5))
    results = health_results(tmp_path, f"""
  - {{name: pw, kind: redis, address: "127.0.0.1:9", password_file: {urandom}}}
  - {{name: ca, kind: redis, address: "127.0.0.1:9", tls: {{ca: {zero}}}}}
  - {{name: webca, kind: http, address: "https://127.0.0.1:9/", tls: {{ca: {zero}}}}}
""")
    assert results["pw"][0] == "unsupported" and "not a regular file" in results["pw"][1], results
    assert results["ca"][0] == "tls" and "not a regular file" in results["ca"][1], results
    assert results["webca"][0] == "tls" and "not a regular file" in results["webca"][1], results


def test_missing_secret_variables_and_bad_ca_files_are_not_internal(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("this is not a certificate\n")
    results = health_results(tmp_path, f"""
  - {{name: db, kind: postgres, dsn_env: AGENTOPS_TEST_UNSET_DSN}}
  - {{name: web, kind: http, address: "http://127.0.0.1:9/", token_env: AGENTOPS_TEST_UNSET_TOKEN}}
  - {{name: cadir, kind: redis, address: "127.0.0.1:9", tls: {{ca: {tmp_path}}}}}
  - {{name: pgca, kind: postgres, address: "127.0.0.1:9", tls: {{ca: {not_pem}}}}}
""")
    assert results["db"][0] == "unsupported" and "AGENTOPS_TEST_UNSET_DSN" in results["db"][1], results
    assert results["web"][0] == "unsupported" and "AGENTOPS_TEST_UNSET_TOKEN" in results["web"][1], results
    assert results["cadir"] == ("tls", f"cannot load TLS CA file {tmp_path}: is a directory, not a file"), results
    assert results["pgca"][0] == "tls" and "not PEM" in results["pgca"][1], results


def test_read_arg_at_dev_zero_is_bounded(tmp_path: Path) -> None:
    r = run_cli("diagnose", "agent", "echo", "--error", "@/dev/zero")
    assert r.code == 3, r
    assert "--error: cannot read /dev/zero: larger than 64 MiB" in one_line_error(r)
