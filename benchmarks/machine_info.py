"""What the benchmarks ran on: CPU, memory, Python, SQLite, the file system, library versions."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sysconfig
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("aftersales_flow", "transitions", "python-statemachine", "sqlite-utils", "attrs", "PyYAML")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _filesystem(path: Path) -> str:
    """The file system type and device that hold ``path`` (fsync costs depend on it)."""
    try:
        mounts = [line.split()[:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "unknown"
    resolved = str(path.resolve())
    best = ("", "unknown", "unknown")
    for device, mount, kind in mounts:
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > len(best[0]):
            best = (mount, device, kind)
    return f"{best[2]} on {best[1]} (mounted at {best[0]})"


def _git(repository: Path) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repository, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "flows"],
            cwd=repository,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "src_modified": None}
    return {"commit": commit, "src_modified": bool(status.strip())}


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def describe(data_dir: Path) -> dict[str, Any]:
    """The machine, the interpreter and the libraries of this run."""
    config_args = sysconfig.get_config_var("CONFIG_ARGS") or ""
    return {
        "cpu": _cpu(),
        "cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_pgo_lto": "--enable-optimizations" in config_args,
        "sqlite": sqlite3.sqlite_version,
        "filesystem": _filesystem(data_dir),
        "libraries": _versions(),
        "git": _git(Path(__file__).resolve().parents[1]),
    }
