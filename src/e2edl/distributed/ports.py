"""Free TCP ports for a process group's rendezvous, and whether one is still bound.

A process group meets at ``MASTER_ADDR:MASTER_PORT`` (rank 0 listens there). Two jobs on one
machine that pick the same port collide: the second fails with ``EADDRINUSE`` or, worse, joins
the first's rendezvous. Asking the kernel for a free port (bind to port 0) avoids both.
"""

from __future__ import annotations

import socket
from pathlib import Path

LISTEN = "0A"  # the TCP state "listening" in /proc/net/tcp


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's pick; free until someone binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def listening_ports() -> set[int]:
    """Every local TCP port some process listens on (Linux: read from ``/proc/net/tcp*``)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == LISTEN:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def is_listening(port: int) -> bool:
    """Whether a process still listens on ``port`` (a rendezvous left open)."""
    ports = listening_ports()
    if ports:
        return port in ports
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # no /proc (macOS): try to connect
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
