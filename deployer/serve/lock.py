"""One deployment of a site at a time: a lock file in the site's cache folder.

Two `up` runs of the same site would fight over its port and containers; the second one
is refused with the first one's process id. The lock is released when its holder exits,
however it exits (the kernel drops `flock` locks with the process).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from deployer.errors import SiteBusy
from deployer.site import Site, cache_dir


@contextmanager
def site_lock(site: Site) -> Iterator[None]:
    """Hold the site's deployment lock, or raise SiteBusy naming the holder."""
    path = cache_dir(site) / "deploy.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise SiteBusy(
                f"Another sitedeploy process (pid {holder}) is deploying {site.path} right now. "
                "Wait for it to finish (or stop it), then run again."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
