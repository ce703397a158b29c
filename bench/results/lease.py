"""The lease on a run: at most one process measures a run at a time.

A run's row in the store names its holder (``host:pid``) and the holder's last heartbeat. The
process that starts a run holds it from the start; ``bench run --resume`` claims it, which
succeeds only when nobody holds it, when its holder's heartbeat is older than
:data:`STALE_AFTER_S`, or when the holder is a process of this host that no longer exists (killed
with SIGKILL). A background thread renews the heartbeat every :data:`HEARTBEAT_S`; the lease is
released when the process leaves the run, however it leaves it. A second claimant gets a
:class:`~bench.errors.BenchError` (exit 2) naming the holder, so no cell is measured twice.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import sqlalchemy as sa

from bench.errors import BenchError
from bench.results.store import Store

HEARTBEAT_S = 5.0  # seconds between two heartbeats of the holder
STALE_AFTER_S = 60.0  # seconds without a heartbeat after which another process may take the run over


def this_holder() -> str:
    """This process as a lease holder: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_gone(holder: str) -> bool:
    """Whether ``holder`` (``host:pid``) is a process of this host that no longer exists.

    A holder on another host is never known to be gone: only its heartbeat going stale frees the run."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (and belongs to someone else)
        return False
    return False


class RunLease:
    """Hold the lease on ``run_id`` for the body of a ``with`` block, renewing its heartbeat.

    A resume calls :meth:`take` first, which raises BenchError naming the holder when another live
    process has the run; a new run keeps the lease that :meth:`Store.start_run` gave this process.
    :attr:`lost` names the process that took the run over (after this one's
    heartbeat went stale, e.g. while the machine slept); the holder stops storing cells then.
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        holder: str | None = None,
        heartbeat_s: float = HEARTBEAT_S,
        stale_after_s: float = STALE_AFTER_S,
    ):
        self.store = store
        self.run_id = run_id
        self.holder = holder or this_holder()
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RunLease:
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.lost is None:
            self.store.release_lease(self.run_id, self.holder)

    def take(self) -> None:
        """Claim the run, or raise BenchError naming who holds it (a compare-and-swap, retried when it lost a race)."""
        for _ in range(10):
            lease = self.store.lease_of(self.run_id)
            if lease is None:
                raise BenchError(f"no run {self.run_id} in the store")
            if lease["status"] == "finished":
                raise BenchError(f"run {self.run_id} has finished meanwhile: nothing to resume")
            holder, beat = lease["lease_holder"], lease["lease_heartbeat"]
            if not isinstance(beat, int | float) or isinstance(beat, bool) or beat != beat:
                beat = None  # a heartbeat that is not a number (a damaged row) proves nothing: stale
            age = time.time() - beat if beat is not None else None
            free = (
                holder is None
                or holder == self.holder
                or age is None
                or abs(age) > self.stale_after_s  # a heartbeat far in the future (a skewed clock) is no proof either
                or holder_gone(holder)
            )
            if not free:
                raise BenchError(
                    f"run {self.run_id} is being measured by {holder} (last heartbeat {age:.0f} s ago); "
                    f"wait for it to end, or for its lease to go stale ({self.stale_after_s:.0f} s without a heartbeat)"
                )
            if self.store.swap_lease(self.run_id, lease, self.holder):
                return
        raise BenchError(f"run {self.run_id}: could not claim it, other processes keep claiming it; try again")

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                if not self.store.renew_lease(self.run_id, self.holder):
                    self.lost = (self.store.lease_of(self.run_id) or {}).get("lease_holder") or "another process"
                    return
            except sa.exc.OperationalError:  # a busy store: the next beat tries again
                continue
