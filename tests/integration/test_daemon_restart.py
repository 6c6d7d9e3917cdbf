"""The Docker daemon restarts under a running preview (marked `restarts_engine`: the
session runs it after every other test, which all share that engine)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from deployer.commands.up import up
from deployer.engine import Engine, connect
from deployer.progress import Progress
from deployer.serve.preview import PreviewStatus, preview_status, stop_preview
from deployer.waiting import wait_until
from tests.conftest import SiteFactory
from tests.integration.conftest import deploy
from tests.running import cli

pytestmark = [
    pytest.mark.engine,
    pytest.mark.restarts_engine,
    pytest.mark.skipif(os.geteuid() != 0, reason="restarting dockerd needs root"),
]


def _engine_answers() -> bool:
    try:
        connect()
    except Exception:
        return False
    return True


def _restart_dockerd() -> None:
    """Restart the daemon the way it was started (systemd, or a plain dockerd process)."""
    if Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "restart", "docker"], check=True)
    else:
        pid = int(subprocess.check_output(["pgrep", "-xo", "dockerd"]).split()[0])
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        os.kill(pid, signal.SIGTERM)
        wait_until(60, lambda: not Path(f"/proc/{pid}").exists(), "dockerd to stop", every=0.2)
        status = cli("status", ".")
        assert status.returncode == 1
        assert "Cannot reach the Docker daemon" in status.stderr  # status tells the truth
        with Path("/var/log/dockerd.log").open("ab") as log:
            subprocess.Popen(
                command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
    wait_until(60, _engine_answers, "dockerd to come back", every=0.5)


def test_preview_comes_back_after_a_daemon_restart(
    engine: Engine, make_site: SiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_site("restart")
    site, config, _first = deploy(engine, folder)
    (folder / "about.md").write_text("---\nlayout: page\ntitle: About\n---\nRedeployed.\n")
    before = up(engine, site, config, Progress(quiet=True))  # the front has switched once
    status = preview_status(engine, site)
    assert (status.state, status.answering, status.server) == ("running", True, before.server)

    monkeypatch.chdir(site.path)
    _restart_dockerd()

    def answering() -> PreviewStatus | None:
        status = preview_status(engine, site)
        return status if status.answering else None

    status = wait_until(90, answering, "the preview to answer again", every=1)
    assert (status.container, status.server) == (before.container, before.server)
    assert requests.get(before.url + "/", timeout=10).status_code == 200
    shown = cli("status")
    assert shown.returncode == 0 and "(answering)" in shown.stdout
    stop_preview(engine, site)
