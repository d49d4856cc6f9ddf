"""What the tests ask of processes they did not start themselves."""

from __future__ import annotations


def alive(pid: int) -> bool:
    """True while ``pid`` runs: a zombie has ended (only its parent has not reaped it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")
