"""Reading a promptrail audit branch with git, shared by the CI's independent checkers."""

from __future__ import annotations

import re
import subprocess
from typing import Callable

ENTRY_PATH = re.compile(r"^entries/.+\.json$")


def git(repo: str, *args: str) -> bytes:
    proc = subprocess.run(
        ["git", "-C", repo, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"git {' '.join(args)} failed ({proc.returncode}): "
            f"{proc.stderr.decode(errors='replace').strip()}"
        )
    return proc.stdout


def resolve_branch(repo: str, branch: str) -> str:
    """Commit id of the branch: local head first, then origin's copy."""
    for ref in (f"refs/heads/{branch}", f"refs/remotes/origin/{branch}", branch):
        try:
            out = git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except RuntimeError:
            continue
        if out.strip():
            return out.decode().strip()
    raise RuntimeError(f"branch {branch!r} not found in {repo}")


def list_entries(repo: str, commit: str) -> list[tuple[str, str]]:
    """(path, blob id) of every entries/**.json blob, sorted by path."""
    out = git(repo, "ls-tree", "-r", "-z", "--full-tree", commit)
    entries = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path_b = record.partition(b"\t")
        _mode, otype, oid = meta.decode().split(" ")
        path = path_b.decode("utf-8", errors="surrogateescape")
        if otype == "blob" and ENTRY_PATH.match(path):
            entries.append((path, oid))
    entries.sort()
    return entries


def check_entries(
    repo: str,
    branch: str,
    entries: list[tuple[str, str]],
    check: Callable[[bytes], str],
    negatives: Callable[[bytes], list[str]],
    errors: tuple[type[BaseException], ...],
) -> int:
    """Runs `check(raw)` on every entry (it returns the line to print, or raises one of
    `errors`), then `negatives(raw)` on the first entry that passed (it returns the failures);
    prints "N passed, M failed" and returns the exit code: 0 only if something passed and
    nothing failed (no entry at all is a failure)."""
    passed = failed = 0
    first_raw = None
    for path, oid in entries:
        raw = git(repo, "cat-file", "blob", oid)
        try:
            line = check(raw)
        except errors as e:
            failed += 1
            print(f"FAIL    {path}: {e}")
            continue
        passed += 1
        if first_raw is None:
            first_raw = raw
        print(f"ok      {path}: {line}")
    if not entries:
        print(f"FAIL    no entries/**.json on {branch}")
        failed += 1
    elif first_raw is not None:
        for failure in negatives(first_raw):
            print(f"FAIL    negative check: {failure}")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1
