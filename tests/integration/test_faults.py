"""Redeploys and faults, against the real engine: the preview never goes quiet.

Ctrl-C is simulated the way a terminal sends it: SIGINT to the whole process group of a
`sitedeploy` subprocess (so the docker CLI and mmdebstrap get it too).
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import docker.errors
import pytest
import requests

from deployer.commands.up import up
from deployer.config import load_config
from deployer.engine import Engine
from deployer.errors import DiskFull
from deployer.image import images as build_module
from deployer.image.images import build_site
from deployer.labels import BOOTSTRAP_REPOSITORY, Role
from deployer.progress import Progress
from deployer.serve.preview import find_containers, preview_status, stop_preview
from deployer.site import open_site
from deployer.waiting import wait_until
from tests.conftest import SiteFactory, free_port
from tests.integration.conftest import deploy
from tests.running import Running, cli

pytestmark = pytest.mark.engine

SLOW_PLUGIN = """Jekyll::Hooks.register :site, :post_write do |_site|
  puts "SLOW-PLUGIN-ASLEEP"
  $stdout.flush
  sleep 120
end
"""
TEMP_FOLDERS = (Path("/tmp"), Path("/var/tmp"))


def _temp_files() -> set[str]:
    return {str(path) for folder in TEMP_FOLDERS for path in folder.glob("sitedeploy-*")}


def _marker(folder: Path, text: str) -> None:
    (folder / "index.md").write_text(f"---\nlayout: home\ntitle: Home\n---\n\nMARK-{text}\n")


def _page_marks(text: str) -> list[str]:
    return re.findall(r"MARK-\w+", text)


def _wait_for_mark(marks: Counter[str], mark: str, times: int = 50) -> None:
    wait_until(30, lambda: marks[mark] >= times, f"the load to get {mark} {times} times")


def test_redeploys_under_load_never_fail_a_request(engine: Engine, make_site: SiteFactory) -> None:
    folder = make_site("load")
    _marker(folder, "v0")
    site, config, first = deploy(engine, folder)
    stop = threading.Event()
    statuses: Counter[object] = Counter()
    marks: Counter[str] = Counter()
    mixed: list[list[str]] = []

    def hammer() -> None:
        with requests.Session() as http:
            while not stop.is_set():
                try:
                    response = http.get(first.url + "/", timeout=10)
                except requests.RequestException as error:
                    statuses[type(error).__name__] += 1
                    continue
                statuses[response.status_code] += 1
                found = _page_marks(response.text)
                if len(found) != 1:
                    mixed.append(found)
                marks.update(found)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    switches = []
    try:
        for version in ("v1", "v2", "broken", "v3"):
            if version == "broken":
                (folder / "_posts" / "2026-06-01-broken.md").write_text(
                    "---\ntitle: Broken\n---\n{% for x in y %}\n"
                )
                with pytest.raises(Exception, match="Liquid syntax error"):
                    up(engine, site, config, Progress(quiet=True))
                (folder / "_posts" / "2026-06-01-broken.md").unlink()
                continue
            _marker(folder, version)
            result = up(engine, site, config, Progress(quiet=True))
            assert result.replaced and result.switch_seconds is not None
            switches.append(result.switch_seconds)
            # The load meets the new version for a while before the next switch.
            _wait_for_mark(marks, f"MARK-{version}")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    print(f"\nredeploy under load: {dict(statuses)}; marks {dict(marks)}; switches {switches}")
    assert set(statuses) == {200}, statuses
    assert mixed == []
    assert set(marks) <= {"MARK-v0", "MARK-v1", "MARK-v2", "MARK-v3"}
    assert marks["MARK-v3"] > 0 and sum(statuses.values()) > 500
    assert len(find_containers(engine, site, Role.SERVER)) == 1
    stop_preview(engine, site)


def test_ctrl_c_during_the_build_keeps_the_old_preview(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site("sigint-build")
    _marker(folder, "old")
    site, config, before = deploy(engine, folder)
    temp_before = _temp_files()
    _marker(folder, "new")
    (folder / "_plugins").mkdir()
    (folder / "_plugins" / "slow.rb").write_text(SLOW_PLUGIN)

    first = Running("up", str(folder), "--port", str(config.port), "-v")
    first.wait_for("SLOW-PLUGIN-ASLEEP")  # inside `jekyll build`, which now sleeps

    # A second `up` of the same site meanwhile is refused, naming the first.
    second = cli("up", str(folder), "--port", str(config.port), timeout=120)
    assert second.returncode == 1
    assert f"Another sitedeploy process (pid {first.process.pid}) is deploying" in second.stderr

    assert first.interrupt() != 0
    assert "Traceback" not in "".join(first.output)
    assert _page_marks(requests.get(before.url + "/", timeout=10).text) == ["MARK-old"]
    status = preview_status(engine, site)
    assert (status.server, status.answering) == (before.server, True)
    assert [c.name for c in find_containers(engine, site, Role.SERVER)] == [before.server]
    assert _temp_files() == temp_before
    assert subprocess.run(["pgrep", "-f", str(folder)], capture_output=True).stdout == b""

    (folder / "_plugins" / "slow.rb").unlink()
    after = up(engine, site, config, Progress(quiet=True))
    assert _page_marks(requests.get(after.url + "/", timeout=10).text) == ["MARK-new"]
    stop_preview(engine, site)


def test_ctrl_c_during_the_health_check_keeps_the_old_preview(
    engine: Engine, make_site: SiteFactory
) -> None:
    many: dict[str, str | bytes | None] = {
        f"assets/many/file-{n:04d}.txt": f"file {n}\n" for n in range(4000)
    }
    folder = make_site("sigint-check", many)
    _marker(folder, "old")
    site, config, before = deploy(engine, folder)
    _marker(folder, "new")

    run = Running("up", str(folder), "--port", str(config.port))
    run.wait_for("Checking the new container")
    assert run.interrupt() != 0
    assert _page_marks(requests.get(before.url + "/", timeout=10).text) == ["MARK-old"]
    assert [c.name for c in find_containers(engine, site, Role.SERVER)] == [before.server]
    assert preview_status(engine, site).server == before.server

    after = up(engine, site, config, Progress(quiet=True))
    assert _page_marks(requests.get(after.url + "/", timeout=10).text) == ["MARK-new"]
    stop_preview(engine, site)


def test_ctrl_c_during_the_base_bootstrap_leaves_nothing_behind(
    engine: Engine, make_site: SiteFactory
) -> None:
    stand_in = f"{BOOTSTRAP_REPOSITORY}:bookworm"
    original = engine.client.images.get(stand_in)
    # A second name keeps the image while its usual tag is gone (so nothing is rebuilt).
    original.tag("sitedeploy-test/keep-base", "bookworm")
    engine.api.remove_image(stand_in, noprune=True)
    folder = make_site("sigint-bootstrap")
    temp_before = _temp_files()
    try:
        run = Running("build", str(folder), "-v")
        run.wait_for("Bootstrapping")
        run.wait_for("I: installing essential packages")  # the root filesystem is mounted
        assert run.interrupt() != 0
        with pytest.raises(docker.errors.ImageNotFound):
            engine.client.images.get(stand_in)
        assert _temp_files() == temp_before
        assert subprocess.run(["pgrep", "mmdebstrap"], capture_output=True).stdout == b""
        assert "mmdebstrap" not in Path("/proc/mounts").read_text()
        assert "sitedeploy-bootstrap" not in Path("/proc/mounts").read_text()
        assert not list(Path("/tmp").glob("mmdebstrap.*"))
    finally:
        original.tag(BOOTSTRAP_REPOSITORY, "bookworm")
        engine.api.remove_image("sitedeploy-test/keep-base:bookworm", noprune=True)
    # The next build finds the base again and works.
    images = build_site(engine, open_site(folder), load_config(folder), Progress(quiet=True))
    assert images.bases[0].reference == stand_in


def test_a_preview_removed_behind_our_back_is_reported_and_recovered(
    engine: Engine, make_site: SiteFactory
) -> None:
    site, config, before = deploy(engine, make_site("removed"))
    engine.client.containers.get(before.server).remove(force=True)
    status = preview_status(engine, site)
    assert (status.state, status.answering, status.server) == ("running", False, None)
    shown = cli("status", str(site.path))
    assert shown.returncode == 3 and "NOT answering" in shown.stdout

    recovered = up(engine, site, config, Progress(quiet=True))
    assert recovered.replaced
    assert preview_status(engine, site).answering

    engine.client.containers.get(recovered.container).remove(force=True)  # the front too
    assert preview_status(engine, site).state == "absent"
    again = up(engine, site, config, Progress(quiet=True))
    assert requests.get(again.url + "/", timeout=10).status_code == 200
    stop_preview(engine, site)


def test_watch_redeploys_on_save_and_survives_a_broken_save(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site("watch")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    run = Running("up", str(folder), "--port", str(port), "--watch")
    try:
        run.wait_for("Watching")
        post = folder / "_posts" / "2026-01-05-welcome-to-sitedeploy.md"
        page = f"{url}/news/2026/01/05/welcome-to-sitedeploy.html"
        post.write_text(post.read_text() + "\nEDITED-ONCE\n")
        saved = time.monotonic()
        wait_until(
            120, lambda: "EDITED-ONCE" in requests.get(page, timeout=10).text,
            f"{page} to serve the edit", hint=lambda: "".join(run.output),
        )  # fmt: skip
        print(f"\nwatch: edit-to-served {time.monotonic() - saved:.2f} s")
        run.wait_for("Serving the change")

        (folder / "broken.md").write_text("---\ntitle: x\n---\n{% if %}\n")
        run.wait_for("Error: Jekyll could not build")
        run.wait_for("The last good version keeps serving")
        assert "EDITED-ONCE" in requests.get(page, timeout=10).text

        (folder / "broken.md").unlink()
        run.wait_for("nothing the site serves changed")  # it builds again, as it was
    finally:
        code = run.interrupt()
    assert code == 0
    assert "Stopped watching. The preview keeps running" in "".join(run.output)
    assert requests.get(url + "/", timeout=10).status_code == 200
    stop_preview(engine, open_site(folder))


def test_a_full_disk_is_refused_before_building(
    engine: Engine, make_site: SiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_site("disk")
    monkeypatch.setattr(build_module, "HEADROOM_BYTES", 10**18)
    with pytest.raises(
        DiskFull, match=r"The Docker data folder /\S+ has .* free; this build needs"
    ):
        build_site(engine, open_site(folder), load_config(folder), Progress(quiet=True))


def test_port_change_moves_the_preview(engine: Engine, make_site: SiteFactory) -> None:
    site, _config, before = deploy(engine, make_site("move"))
    moved = load_config(site.path, {"port": free_port()})
    after = up(engine, site, moved, Progress(quiet=True))
    assert after.url != before.url
    assert requests.get(after.url + "/", timeout=10).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(before.url + "/", timeout=5)
    stop_preview(engine, site)
