"""Whether a process that took the training lock on this machine is still alive.

A process is named by host, pid namespace, pid and start time (Linux ``/proc``), so a
reused pid or a process of another container is never mistaken for the holder. Where
``/proc`` is missing the identity is empty and only the lock's heartbeat tells.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

PROC = Path("/proc")


def _start_time(pid: int) -> str | None:
    """Start time (clock ticks after boot) of a running process, None if gone or a zombie."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces and parentheses: fields start after the last ")".
    fields = stat.rsplit(")", 1)[1].split()
    state, start = fields[0], fields[19]
    return None if state in ("Z", "X") else start


def _machine() -> str | None:
    try:
        namespace = os.readlink(PROC / "self" / "ns" / "pid")
    except OSError:
        return None
    return f"{socket.gethostname()}|{namespace}"


def process_identity(pid: int | None = None) -> str:
    """This (or a given) process's identity on this machine, or "" when it cannot be told."""
    pid = os.getpid() if pid is None else pid
    machine, start = _machine(), _start_time(pid)
    if machine is None or start is None:
        return ""
    return f"{machine}|{pid}|{start}"


def process_gone(identity: str) -> bool:
    """Whether ``identity`` names a process of this machine that has exited.

    False whenever it cannot be told: another machine, another container, no ``/proc``.
    """
    machine = _machine()
    if not identity or machine is None:
        return False
    try:
        where, pid, start = identity.rsplit("|", 2)
        return where == machine and _start_time(int(pid)) != start
    except ValueError:  # not an identity this module wrote
        return False
