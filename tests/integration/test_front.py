"""The preview's port keeps its clients' connections across redeploys and fails nothing:
wrk with keep-alive (its default), a loop that opens a connection per request, and one
client that keeps a single connection open, all on 127.0.0.1 while the site is
redeployed three times and one broken version is refused."""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from deployer.commands.up import up
from deployer.engine import Engine
from deployer.errors import JekyllFailed
from deployer.labels import Role
from deployer.progress import Progress
from deployer.serve.preview import find_containers, stop_preview
from deployer.waiting import wait_until
from tests.conftest import SiteFactory
from tests.integration.conftest import deploy

pytestmark = pytest.mark.engine

WRK_LIMIT_SECONDS = 120  # wrk stops by itself here if the test cannot stop it


def _marker(folder: Path, text: str) -> None:
    (folder / "index.md").write_text(f"---\nlayout: home\ntitle: Home\n---\n\nMARK-{text}\n")


def _marks(body: bytes) -> list[str]:
    return re.findall(r"MARK-\w+", body.decode("utf-8", "replace"))


@dataclass
class Client:
    """One kind of client in a loop: what it got, and (keep-alive) the connections it
    needed and when it saw each version."""

    keep_alive: bool
    statuses: Counter[object] = field(default_factory=Counter)
    mixed: list[list[str]] = field(default_factory=list)
    connections: int = 0
    seen: list[tuple[float, str]] = field(default_factory=list)

    def run(self, host: str, port: int, stop: threading.Event) -> None:
        connection: http.client.HTTPConnection | None = None
        while not stop.is_set():
            if connection is None:
                connection = http.client.HTTPConnection(host, port, timeout=10)
                self.connections += 1
            headers = {} if self.keep_alive else {"Connection": "close"}
            try:
                connection.request("GET", "/", headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as error:
                self.statuses[type(error).__name__] += 1
                connection.close()
                connection = None
                continue
            self.statuses[response.status] += 1
            found = _marks(body)
            if len(found) != 1:
                self.mixed.append(found)
            else:
                self.seen.append((time.monotonic(), found[0]))
            if not self.keep_alive or response.will_close:
                connection.close()
                connection = None
        if connection is not None:
            connection.close()


def _wait_until_seen(clients: tuple[Client, ...], mark: str, times: int = 50) -> None:
    """Until every client got `mark` `times` times: the load meets each version a while."""

    def seen() -> bool:
        return all(sum(1 for _, m in client.seen if m == mark) >= times for client in clients)

    wait_until(30, seen, f"every client to get {mark} {times} times")


def _wrk_summary(output: str) -> tuple[int, int, int]:
    """Requests, socket errors and non-2xx/3xx answers from wrk's report."""
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = sum(int(n) for n in errors.groups()) if errors else 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return requests, socket_errors, int(non_2xx.group(1)) if non_2xx else 0


def test_redeploys_keep_client_connections_and_fail_no_request(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site("keepalive")
    _marker(folder, "v0")
    site, config, first = deploy(engine, folder)
    host, port = "127.0.0.1", int(urlsplit(first.url).port or 0)
    wrk = subprocess.Popen(
        ["wrk", "-t2", "-c8", f"-d{WRK_LIMIT_SECONDS}s", "--latency", first.url + "/"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stop = threading.Event()
    kept, fresh = Client(keep_alive=True), Client(keep_alive=False)
    threads = [threading.Thread(target=c.run, args=(host, port, stop)) for c in (kept, fresh)]
    for thread in threads:
        thread.start()
    deployed: list[tuple[float, str]] = []
    switches: list[float] = []  # reported, not judged: timing belongs to the benchmark
    try:
        _wait_until_seen((kept, fresh), "MARK-v0")
        for version in ("v1", "v2", "broken", "v3"):
            if version == "broken":
                (folder / "_posts" / "2026-06-01-broken.md").write_text(
                    "---\ntitle: Broken\n---\n{% for x in y %}\n"
                )
                with pytest.raises(JekyllFailed):
                    up(engine, site, config, Progress(quiet=True))
                (folder / "_posts" / "2026-06-01-broken.md").unlink()
                continue
            _marker(folder, version)
            result = up(engine, site, config, Progress(quiet=True))
            deployed.append((time.monotonic(), f"MARK-{version}"))
            assert result.replaced and result.switch_seconds is not None
            switches.append(round(result.switch_seconds, 3))
            _wait_until_seen((kept, fresh), f"MARK-{version}")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        wrk.send_signal(signal.SIGINT)
        output, _ = wrk.communicate(timeout=30)
    print(
        f"\nwrk: {output}\nkeep-alive client: {dict(kept.statuses)} on {kept.connections} "
        f"connections; one connection per request: {dict(fresh.statuses)}"
    )
    requests, socket_errors, non_2xx = _wrk_summary(output)
    assert requests > 1000 and socket_errors == 0 and non_2xx == 0, output
    for client in (kept, fresh):
        assert set(client.statuses) == {200}, client.statuses
        assert client.mixed == []
    # The keep-alive client really kept its connection (nginx closes one after 10,000
    # requests, cleanly), and saw each version from the moment its `up` returned.
    assert sum(kept.statuses.values()) / kept.connections >= 100
    assert fresh.connections == sum(fresh.statuses.values())
    for at, version in deployed:
        after = [mark for seen_at, mark in kept.seen if seen_at > at]
        assert after and set(after[: len(after)]) <= {version, *_later(deployed, version)}
    assert len(find_containers(engine, site, Role.SERVER)) == 1
    stop_preview(engine, site)


def _later(deployed: list[tuple[float, str]], version: str) -> set[str]:
    versions = [mark for _at, mark in deployed]
    return set(versions[versions.index(version) + 1 :])
