"""files.prune: delete old files under given roots, and optionally the oldest ones beyond a total-size cap.

Safety rules, each one a test:
- never follows a symlink: links are not deleted, directories reached through a link are not entered;
- never leaves its roots: the walk goes through directory file descriptors (os.fwalk), a subdirectory is
  entered only if what was opened is what was listed (a directory swapped for a symlink mid-walk is not
  followed), deletion is unlinkat() relative to the directory fd, and the cap phase re-opens each parent
  component by component with O_NOFOLLOW; other file systems mounted inside a root are not entered;
- refuses `/` and the system roots below as a root, also when a root resolves to one through a symlink;
- a file it cannot delete is a warning (reported, counted), not the end of the step.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentops.core import format as fmt
from agentops.core.model import Reason
from agentops.core.units import parse_duration, parse_size
from agentops.maintain.step import Outcome, Step, StepContext, StepOutcome

SYSTEM_ROOTS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/lost+found",
    "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/tmp", "/usr",
    "/usr/bin", "/usr/lib", "/usr/local", "/usr/sbin", "/usr/share", "/var", "/var/cache", "/var/lib",
    "/var/log", "/var/run", "/var/spool", "/var/tmp",
})

# Test-only: seconds to sleep after each deletion, so a test can SIGKILL a run in the middle of a prune.
PACE_ENV = "AGENTOPS_TEST_PRUNE_DELAY_S"
# Yield to the event loop this often so the engine's timeout can cancel a long walk.
YIELD_EVERY = 256


def refused_root(path: str) -> str | None:
    """Why `path` may not be a prune root, or None. Checked on the text at load time and on the resolved
    path at run time (a root that is a symlink to /etc is refused too)."""
    norm = os.path.normpath(path)
    if norm.startswith("//"):  # POSIX keeps a leading "//"; Linux treats it as "/"
        norm = "/" + norm.lstrip("/")
    if not os.path.isabs(norm):
        return f"root {path!r} is not an absolute path (cron's working directory is not yours)"
    if norm in SYSTEM_ROOTS:
        return f"refusing system directory {norm} as a prune root (name a directory below it)"
    home = os.path.expanduser("~")
    if home not in ("/", "~") and norm == os.path.normpath(home):
        return f"refusing the home directory {norm} as a prune root (name a directory below it)"
    return None


@dataclass
class PruneRules:
    roots: list[str]
    match: list[str]
    exclude: list[str]
    older_than: float | None
    max_total_size: int | None
    one_file_system: bool = True

    def wants(self, rel: str, name: str) -> bool:
        def hit(patterns: list[str]) -> bool:
            # A pattern with a slash matches the path relative to the root, one without the file name.
            return any(fnmatch.fnmatchcase(rel if "/" in p else name, p) for p in patterns)

        return hit(self.match) and not hit(self.exclude)


@dataclass
class Survivor:
    path: str
    size: int
    mtime: float


@dataclass
class Tally:
    matched_files: int = 0
    matched_bytes: int = 0
    deleted_files: int = 0
    deleted_bytes: int = 0
    failed_files: int = 0
    symlinks_skipped: int = 0
    survivors: list[Survivor] = field(default_factory=list)


class FilesPruneStep(Step):
    kind = "files.prune"
    description = "delete files older than an age and/or the oldest beyond a total size, under given roots"
    destructive = True
    default_timeout = 1800.0
    params_doc = {
        "roots": "directories to prune (absolute; system roots such as / /etc /var are refused)",
        "match": "file name globs to consider (default '*'); a glob with '/' matches the path under the root",
        "exclude": "globs never deleted",
        "older_than": "delete matching files last modified longer ago than this (30d, 12h, …)",
        "max_total_size": "then delete the oldest matching files until the rest fits in this size (10GiB, …)",
        "one_file_system": "do not descend into other file systems mounted below a root (default true)",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        self.rules(params)

    def rules(self, params: Mapping[str, Any]) -> PruneRules:
        roots = params.get("roots")
        if isinstance(roots, str):
            roots = [roots]
        if not roots or not isinstance(roots, list) or not all(isinstance(r, str) and r for r in roots):
            raise ValueError("roots: expected a list of directories")
        for r in roots:
            why = refused_root(r)
            if why:
                raise ValueError(why)
        match, exclude = _globs(params, "match", ["*"]), _globs(params, "exclude", [])
        older = parse_duration(params["older_than"]) if params.get("older_than") is not None else None
        cap = parse_size(params["max_total_size"]) if params.get("max_total_size") is not None else None
        if older is None and cap is None:
            raise ValueError("give older_than, max_total_size or both (otherwise there is nothing to prune)")
        one_fs = params.get("one_file_system", True)
        if not isinstance(one_fs, bool):
            raise ValueError("one_file_system: expected true or false")
        return PruneRules(list(roots), match, exclude, older, cap, one_fs)

    async def run(self, ctx: StepContext) -> StepOutcome:
        rules = self.rules(ctx.params)
        out = StepOutcome(Outcome.OK)
        tally = Tally()
        pace = float(os.environ.get(PACE_ENV, "0") or 0)
        now = time.time()
        verb = "would delete" if ctx.check else "deleted"
        for root in rules.roots:
            real = os.path.realpath(root)
            why = refused_root(real)
            if why:
                return StepOutcome.failure(Reason.ASSERTION, f"{root} resolves to {real}: {why}")
            try:
                root_st = os.stat(real)
            except FileNotFoundError:
                out.warnings.append(f"{root}: does not exist (nothing to prune)")
                continue
            except OSError as exc:
                out.warnings.append(f"{root}: {exc.strerror}")
                continue
            if not stat.S_ISDIR(root_st.st_mode):
                out.warnings.append(f"{root}: not a directory")
                continue
            await self._walk(real, root_st, rules, now, ctx, out, tally, verb, pace)
        missing = [w for w in out.warnings if w.endswith("does not exist (nothing to prune)")]
        if missing and len(missing) == len(rules.roots):
            # Nothing deployed here (yet): a shipped playbook must not warn every night on such a machine.
            return StepOutcome.skipped(f"no root exists ({', '.join(rules.roots)})")
        if rules.max_total_size is not None:
            await self._cap(rules, ctx, out, tally, verb, pace)
        out.before = {"files": tally.matched_files, "bytes": tally.matched_bytes}
        out.after = {"files": tally.matched_files - tally.deleted_files,
                     "bytes": tally.matched_bytes - tally.deleted_bytes}
        out.facts = {"deleted_files": tally.deleted_files, "freed_bytes": tally.deleted_bytes,
                     "failed_files": tally.failed_files, "symlinks_skipped": tally.symlinks_skipped,
                     "roots": rules.roots}
        if tally.deleted_files:
            out.status = Outcome.CHANGED
        out.message = (f"{verb} {tally.deleted_files} of {tally.matched_files} matching files "
                       f"({fmt.size(tally.deleted_bytes)})")
        if tally.failed_files:
            out.message += f"; {tally.failed_files} could not be deleted"
        return out

    async def _walk(self, real: str, root_st: os.stat_result, rules: PruneRules, now: float, ctx: StepContext,
                    out: StepOutcome, tally: Tally, verb: str, pace: float) -> None:
        seen = 0
        first = True

        def onerror(exc: OSError) -> None:
            out.warnings.append(f"{exc.filename or real}: cannot read: {exc.strerror}")

        for dirpath, dirnames, filenames, dirfd in os.fwalk(real, onerror=onerror, follow_symlinks=False):
            if first:
                first = False
                here = os.fstat(dirfd)
                if (here.st_dev, here.st_ino) != (root_st.st_dev, root_st.st_ino):
                    out.warnings.append(f"{real}: changed while being opened; not pruned")
                    return
            rel_dir = os.path.relpath(dirpath, real)
            # Prune the descent in place: no links (fwalk would not follow them anyway), no other mounts.
            for name in list(dirnames):
                try:
                    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                except OSError:
                    dirnames.remove(name)
                    continue
                if stat.S_ISLNK(st.st_mode):
                    dirnames.remove(name)
                    tally.symlinks_skipped += 1
                elif rules.one_file_system and st.st_dev != root_st.st_dev:
                    dirnames.remove(name)
            for name in filenames:
                seen += 1
                if seen % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if not rules.wants(rel, name):
                    continue
                try:
                    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                except OSError:
                    continue  # gone since listed
                if stat.S_ISLNK(st.st_mode):
                    tally.symlinks_skipped += 1
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                tally.matched_files += 1
                tally.matched_bytes += st.st_size
                age = now - st.st_mtime
                if rules.older_than is not None and age > rules.older_than:
                    path = os.path.join(dirpath, name)
                    if self._unlink(dirfd, name, path, st.st_size, ctx, out, tally,
                                    f"{verb} {path} ({fmt.size(st.st_size)}, {_age(age)} old)"):
                        await _pause(pace)
                elif rules.max_total_size is not None:
                    tally.survivors.append(Survivor(os.path.join(real, rel), st.st_size, st.st_mtime))

    async def _cap(self, rules: PruneRules, ctx: StepContext, out: StepOutcome, tally: Tally, verb: str,
                   pace: float) -> None:
        assert rules.max_total_size is not None
        total = sum(s.size for s in tally.survivors)
        for s in sorted(tally.survivors, key=lambda s: s.mtime):
            if total <= rules.max_total_size:
                break
            root = next(r for r in map(os.path.realpath, rules.roots) if s.path.startswith(r.rstrip("/") + "/"))
            parent, name = os.path.split(os.path.relpath(s.path, root))
            dirfd = _open_beneath(root, parent)
            if dirfd is None:
                continue  # its directory went away or became a link: nothing of ours to delete there
            try:
                try:
                    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                if self._unlink(dirfd, name, s.path, st.st_size, ctx, out, tally,
                                f"{verb} {s.path} ({fmt.size(st.st_size)}, over the "
                                f"{fmt.size(rules.max_total_size)} cap)"):
                    total -= st.st_size
                    await _pause(pace)
            finally:
                os.close(dirfd)

    @staticmethod
    def _unlink(dirfd: int, name: str, path: str, size: int, ctx: StepContext, out: StepOutcome, tally: Tally,
                line: str) -> bool:
        if not ctx.check:
            try:
                os.unlink(name, dir_fd=dirfd)
            except FileNotFoundError:
                return False  # someone else removed it: not ours to count
            except OSError as exc:
                tally.failed_files += 1
                out.warnings.append(f"{path}: cannot delete: {exc.strerror}")
                return False
        tally.deleted_files += 1
        tally.deleted_bytes += size
        ctx.record_change(out, line)  # audited before the next unlink: no await between the two
        return True


def _open_beneath(root: str, rel_dir: str) -> int | None:
    """Open root/rel_dir one component at a time, refusing symlinks at every level."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(root, flags)
    except OSError:
        return None
    for part in [p for p in rel_dir.split("/") if p and p != "."]:
        try:
            nxt = os.open(part, flags, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None
        os.close(fd)
        fd = nxt
    return fd


async def _pause(pace: float) -> None:
    if pace > 0:
        await asyncio.sleep(pace)


def _globs(params: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    value = params.get(key, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{key}: expected a glob or a list of globs")
    return list(value)


def _age(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.0f}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 60:.0f}m"

