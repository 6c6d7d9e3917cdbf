"""Going live on a server over SSH, against the way people do it by hand, in one run.

The "server" is a second Docker daemon on this machine (its own data root, its own bridge,
no iptables rules) behind Debian's sshd, whose sessions are pointed at it (SetEnv
DOCKER_HOST): so a deploy really moves an image from one engine to another over SSH,
and the server starts with no layer of ours. Measured on each site:

- the first deploy (every layer goes over SSH);
- a warm redeploy after editing one post, edit-to-served: streamed over SSH (only the
  missing layers), through a registry on loopback (publish, then a pull by digest), and
  the by-hand baseline (BuildKit build, `docker save | ssh server docker load`,
  `docker rm -f` + `docker run`), with the requests that failed meanwhile;
- one redeploy of each (ours streamed, the baseline) under wrk: socket errors, non-2xx;
- `sitedeploy rollback` over SSH.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
from bench.builds import BuildMeasures
from bench.common import (
    DOCKER,
    LABEL,
    SITEDEPLOY,
    Unmeasurable,
    free_port,
    median,
    ratio,
    run,
    timed,
    under_wrk,
)
from deployer.waiting import wait_until
from tests.registry import start_registry
from tests.sshd import start_sshd

BRIDGE = "br-sdbench"
BRIDGE_ADDRESS = "10.213.0.1/24"  # the server's containers; never sent test traffic
BASELINE_IMAGE = "sitedeploy-bench/baseline:buildkit"
BASELINE_NAME = "sitedeploy-bench-baseline-ssh"


@contextlib.contextmanager
def second_engine(root: Path) -> Iterator[str]:
    """A second dockerd on this machine; yields its DOCKER_HOST."""
    root.mkdir(parents=True)
    socket = root / "docker.sock"
    run("ip", "link", "add", BRIDGE, "type", "bridge")
    try:
        run("ip", "addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")
        with (root / "dockerd.log").open("ab") as log:
            daemon = subprocess.Popen(
                ["dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "x"),
                 "--pidfile", str(root / "dockerd.pid"), "-H", f"unix://{socket}",
                 "--bridge", BRIDGE, "--iptables=false", "--ip6tables=false",
                 "--containerd-namespace", "sdbench",
                 "--containerd-plugins-namespace", "sdbench-plugins"],
                stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        clients: list[docker.DockerClient] = []
        try:

            def answers() -> bool:
                try:
                    clients.append(docker.DockerClient(base_url=f"unix://{socket}", timeout=600))
                except docker.errors.DockerException:
                    return False
                return True

            wait_until(60, answers, "the second Docker daemon", hint=f"See {root}/dockerd.log.")
            yield f"unix://{socket}"
        finally:
            for client in clients:
                for container in client.containers.list(all=True):
                    container.remove(force=True)
                client.close()
            daemon.terminate()
            daemon.wait(timeout=60)
    finally:
        run("ip", "link", "del", BRIDGE, check=False)


class ServerMeasures(BuildMeasures):
    def over_ssh(self, folder: Path, post: str) -> dict[str, Any]:
        root = Path(tempfile.mkdtemp(prefix="sdbench-", dir="/tmp"))  # short socket paths
        try:
            with second_engine(root / "engine") as server_host:
                sshd = start_sshd(root / "sshd", {"DOCKER_HOST": server_host})
                registry = start_registry(root / "registry")
                try:
                    return self._over_ssh(folder, post, sshd, registry.host)
                finally:
                    registry.close()
                    sshd.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _over_ssh(self, folder: Path, post: str, sshd: Any, registry: str) -> dict[str, Any]:
        home = sshd.home("client")
        env = {"HOME": str(home)}
        port, baseline_port = free_port(), free_port()
        deploy = [SITEDEPLOY, "deploy", str(folder), "--server", sshd.url,
                  "--port", str(port), "--bind", "127.0.0.1", "-q", "--json"]  # fmt: skip
        ssh = ["ssh", "-F", str(home / ".ssh" / "config"), "-p", str(sshd.port), "root@127.0.0.1"]
        reports: dict[str, dict[str, Any]] = {}

        def streamed() -> None:
            reports["stream"] = json.loads(run(*deploy, env=env))

        def via_registry() -> None:
            reports["registry"] = json.loads(
                run(*deploy, "--registry", registry, "--repository", "bench/ssh", env=env)
            )

        def baseline() -> None:
            self.baseline_build(folder, True, BASELINE_IMAGE)
            run("sh", "-c", f"{DOCKER} save {BASELINE_IMAGE} | {shlex.join(ssh)} docker load")
            run(*ssh, f"docker rm -f {BASELINE_NAME} >/dev/null 2>&1; docker run -d "
                f"--name {BASELINE_NAME} --label {LABEL}=baseline "
                f"-p 127.0.0.1:{baseline_port}:80 {BASELINE_IMAGE}")  # fmt: skip

        first = {"sitedeploy": round(timed(streamed), 3), "baseline": round(timed(baseline), 3)}
        first_sent = reports["stream"]["transfer"]
        ways = {"stream": streamed, "registry": via_registry, "baseline": baseline}
        seconds: dict[str, list[float]] = {way: [] for way in ways}
        failed = dict.fromkeys(ways, 0)
        for _ in range(self.runs):
            for way, action in ways.items():
                marker = self.edit(folder)
                where = baseline_port if way == "baseline" else port
                took, lost = self.redeploy(f"http://127.0.0.1:{where}{post}", marker, action)
                seconds[way].append(took)
                failed[way] += lost
        warm_sent = reports["stream"]["transfer"]
        if warm_sent["way"] != "stream" or reports["registry"]["transfer"]["way"] != "registry":
            raise Unmeasurable(f"the deploys did not take the ways asked: {reports}")
        self.edit(folder)
        ours_wrk = under_wrk(f"http://127.0.0.1:{port}{post}", streamed)
        self.edit(folder)
        theirs_wrk = under_wrk(f"http://127.0.0.1:{baseline_port}{post}", baseline)
        rollback = timed(
            lambda: run(SITEDEPLOY, "rollback", str(folder), "--server", sshd.url, "-q", env=env)
        )
        run(SITEDEPLOY, "remove", str(folder), "--to", "host", "--server", sshd.url, "-q", env=env)
        warm = {way: median(values) for way, values in seconds.items()}
        return {
            "first_deploy_seconds": first,
            "first_deploy_sent": first_sent,
            "warm_redeploy_seconds": warm,
            "warm_redeploy_sent": warm_sent,
            "failed_requests_during_redeploys": failed,
            "stream_vs_registry": ratio(warm["stream"], warm["registry"]),
            "stream_vs_baseline": ratio(warm["stream"], warm["baseline"]),
            "redeploy_under_wrk": {"sitedeploy": ours_wrk, "baseline": theirs_wrk},
            "rollback_seconds": round(rollback, 3),
        }
