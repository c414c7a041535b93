"""files.prune on a real file tree: old and new files, symlinks leading out of the root, a file the kernel
refuses to delete, check mode, the size cap, refused roots."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentops.core.config import Config
from agentops.maintain.step import Outcome, StepContext, StepOutcome
from agentops.maintain.steps.files import FilesPruneStep

DAY = 86400


def age(path: Path, days: float) -> None:
    t = time.time() - days * DAY
    os.utime(path, (t, t), follow_symlinks=False)


def write(path: Path, size: int = 100, days: float = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    age(path, days)
    return path


def snapshot(root: Path) -> dict[str, tuple[int, float]]:
    """Every entry under root (links not followed): path -> (size, mtime)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime)
    return out


@pytest.fixture
def undeletable(tmp_path: Path) -> Iterator[callable]:
    """Make a file root cannot delete: the immutable attribute (chattr +i), verified to really refuse an
    unlink here, since tests run as root and file modes do not stop root."""
    marked: list[Path] = []

    def make(path: Path) -> Path:
        r = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot make an undeletable file on this file system: {r.stderr.decode().strip()}")
        marked.append(path)
        probe = path.with_name(path.name + ".probe")
        probe.write_text("p")
        subprocess.run(["chattr", "+i", str(probe)], check=True)
        try:
            os.unlink(probe)
            pytest.skip("chattr +i does not stop unlink here")
        except PermissionError:
            pass
        finally:
            subprocess.run(["chattr", "-i", str(probe)], capture_output=True)
            probe.unlink(missing_ok=True)
        return path

    yield make
    for p in marked:
        subprocess.run(["chattr", "-i", str(p)], capture_output=True)


def prune(params: dict, *, check: bool = False, state: Path | None = None) -> StepOutcome:
    step = FilesPruneStep()
    step.validate_params(params)
    ctx = StepContext(params=params, target=None, check=check, timeout=60, config=Config(),
                      state_dir=state or Path("/nonexistent"))
    return asyncio.run(step.run(ctx))


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "logs"
    outside = tmp_path / "outside"
    paths = {
        "old": write(root / "app.log", 1000, days=40),
        "old_nested": write(root / "w1" / "deep" / "worker.log", 2000, days=35),
        "new": write(root / "today.log", 500, days=0.1),
        "new_nested": write(root / "w1" / "fresh.log", 300, days=2),
        "old_other_ext": write(root / "keep.dat", 100, days=90),
        "outside_old": write(outside / "precious.log", 700, days=400),
        "outside_dir_old": write(outside / "sub" / "also.log", 700, days=400),
    }
    # A symlink to a file outside, itself matching the glob and "old", and a symlinked directory.
    link = root / "escape.log"
    link.symlink_to(paths["outside_old"])
    age(link, 100)
    (root / "w1" / "linkdir").symlink_to(outside / "sub", target_is_directory=True)
    paths["root"] = root
    paths["outside"] = outside
    paths["link"] = link
    return paths


def test_prune_deletes_old_matching_files_only_and_never_follows_links(tree: dict[str, Path]) -> None:
    outside_before = snapshot(tree["outside"])
    out = prune({"roots": [str(tree["root"])], "match": "*.log", "older_than": "30d"})
    assert out.status is Outcome.CHANGED, out
    assert not tree["old"].exists() and not tree["old_nested"].exists()
    assert tree["new"].exists() and tree["new_nested"].exists() and tree["old_other_ext"].exists()
    # The links themselves stay, and nothing they point to was touched.
    assert tree["link"].is_symlink() and (tree["root"] / "w1" / "linkdir").is_symlink()
    assert snapshot(tree["outside"]) == outside_before
    assert out.facts["deleted_files"] == 2 and out.facts["freed_bytes"] == 3000
    assert out.facts["symlinks_skipped"] >= 2
    assert out.before["files"] == 4 and out.after["files"] == 2
    assert any(str(tree["old"]) in line for line in out.changes)


def test_prune_is_idempotent(tree: dict[str, Path]) -> None:
    params = {"roots": [str(tree["root"])], "match": "*.log", "older_than": "30d"}
    assert prune(params).status is Outcome.CHANGED
    second = prune(params)
    assert second.status is Outcome.OK and second.facts["deleted_files"] == 0


def test_check_mode_reports_exactly_and_changes_nothing(tree: dict[str, Path]) -> None:
    params = {"roots": [str(tree["root"])], "match": "*.log", "older_than": "30d"}
    before = snapshot(tree["root"].parent)
    dry = prune(params, check=True)
    assert snapshot(tree["root"].parent) == before
    assert dry.status is Outcome.CHANGED
    would = sorted(line.split()[2] for line in dry.changes)
    assert would == sorted([str(tree["old"]), str(tree["old_nested"])])
    real = prune(params)
    assert sorted(line.split()[1] for line in real.changes) == would
    assert real.facts["deleted_files"] == dry.facts["deleted_files"]


def test_a_file_that_cannot_be_deleted_is_reported_not_fatal(tree: dict[str, Path], undeletable) -> None:
    stuck = undeletable(write(tree["root"] / "w2" / "stuck.log", 10, days=60))
    out = prune({"roots": [str(tree["root"])], "match": "*.log", "older_than": "30d"})
    assert out.status is Outcome.CHANGED
    assert stuck.exists()
    assert not tree["old"].exists() and not tree["old_nested"].exists()
    assert out.facts["failed_files"] == 1
    assert any(str(stuck) in w and "cannot delete" in w for w in out.warnings), out.warnings


def test_size_cap_deletes_oldest_first_until_under_the_cap(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    files = [write(root / f"f{i}.bin", 1000, days=10 - i) for i in range(6)]  # f0 oldest
    out = prune({"roots": [str(root)], "max_total_size": 2500})
    assert [f.exists() for f in files] == [False, False, False, False, True, True]
    assert out.after["bytes"] == 2000 and out.facts["deleted_files"] == 4


def test_roots_that_are_system_directories_are_refused(tmp_path: Path) -> None:
    step = FilesPruneStep()
    for root in ("/", "/etc", "/var/", "/usr/local", "/home", "/root", "//etc/../etc", "relative/dir"):
        with pytest.raises(ValueError):
            step.validate_params({"roots": [root], "older_than": "1d"})
    # A root that is a symlink to a system directory is refused when resolved at run time.
    trap = tmp_path / "innocent"
    trap.symlink_to("/etc")
    out = prune({"roots": [str(trap)], "older_than": "1d"})
    assert out.status is Outcome.FAILED and "/etc" in out.message
    assert Path("/etc/hostname").exists() or Path("/etc/passwd").exists()


def test_a_directory_swapped_for_a_symlink_is_not_followed(tmp_path: Path) -> None:
    """The race the walk is built for: a subdirectory replaced by a link to elsewhere after it was listed.
    os.fwalk opens each directory and checks it is the one it listed; we also refuse links at listing."""
    root = tmp_path / "r"
    victim = write(tmp_path / "elsewhere" / "victim.log", 10, days=100)
    write(root / "sub" / "a.log", 10, days=100)
    (root / "sub" / "a.log").unlink()
    (root / "sub").rmdir()
    (root / "sub").symlink_to(victim.parent, target_is_directory=True)
    out = prune({"roots": [str(root)], "older_than": "1d"})
    assert victim.exists()
    assert out.facts["deleted_files"] == 0


def test_missing_roots_are_skipped(tmp_path: Path) -> None:
    out = prune({"roots": [str(tmp_path / "nope")], "older_than": "1d"})
    assert out.status is Outcome.SKIPPED
