"""Other engines beside the machine's own daemon, for the engine tests.

Each is Debian's docker.io of another release, or Debian's Podman (`scripts/engines`
unpacks them into folders; nothing is installed), started in a network namespace of its
own (`unshare --net`) with its own roots and socket: a second dockerd (its own data-root,
exec-root and pidfile; `features.containerd-snapshotter` for the containerd image store)
or Podman's Docker API service (its own containers.conf, storage and registries). The
machine's daemon is never stopped, restarted or reconfigured.

The namespace gets one route out (a veth pair, NAT'd by the host) so that builds inside it
reach Debian's mirror as they do on a user's machine: the engine under test builds the
runtime and the builder itself, apt and all, instead of being handed images made by
another engine. Only the bootstrapped Debian bases are moved (`docker save | docker load`),
as a user would pull them. Ports the engine publishes exist only in its namespace: the test
process joins it (`joined`, setns on the calling thread; child processes inherit it) to
run the CLI and to send requests to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

import docker
from deployer.waiting import wait_until

PACKAGES = Path("/var/cache/sitedeploy-tests/engines")
WORK = Path("/var/tmp/sitedeploy-engines")
CLONE_NEWNET = 0x40000000
PODMAN_REGISTRY = "127.0.0.1:5000"  # inside Podman's namespace

_libc = ctypes.CDLL(None, use_errno=True)
_namespace_lock = threading.RLock()


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


@contextlib.contextmanager
def joined(extra: ExtraEngine) -> Iterator[None]:
    """The calling thread in `extra`'s network namespace (and every process it starts
    meanwhile), back in its own afterwards."""
    with _namespace_lock:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns(extra.namespace_fd)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(own)


def _processes_in(namespace: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "ns/net").stat().st_ino == namespace:
                found.append(int(entry.name))
    return found if namespace else []


def _mounts_under(folder: Path) -> list[str]:
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return [point for point in points if point.startswith(f"{folder}/")]


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


@dataclass
class ExtraEngine:
    """Another engine — a dockerd of another version, or Podman's Docker API service —
    in its own network namespace."""

    name: str  # docker-26, docker-28, podman-4, podman-5 (a folder under PACKAGES)
    containerd_store: bool
    subnet: int  # 10.213.<subnet>.0/30 links the namespace to the host
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # Its network namespace, open from the start: the engine's own /proc/PID/ns/net is its
    # main thread's, which Podman 5 moves into a container's now and then (creating one).
    namespace_fd: int = field(default=-1, repr=False)

    @property
    def label(self) -> str:
        if self.podman:
            return self.name
        return f"{self.name}-{'containerd' if self.containerd_store else 'classic'}"

    @property
    def namespace(self) -> int:
        """The inode of its network namespace (0 before it started)."""
        return os.fstat(self.namespace_fd).st_ino if self.namespace_fd >= 0 else 0

    @property
    def packages(self) -> Path:
        return PACKAGES / self.name

    @property
    def work(self) -> Path:
        return WORK / self.label

    @property
    def host(self) -> str:
        return f"unix://{self.work}/docker.sock"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.label} is not running")
        return self.process.pid

    @property
    def _veth(self) -> str:
        return f"sd-eng{self.subnet}"

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, timeout=600)

    @property
    def podman(self) -> bool:
        return self.name.startswith("podman")

    def _dockerd(self) -> tuple[str, dict[str, str]]:
        """dockerd's command line and environment, its configuration written."""
        config = {
            "data-root": str(self.work / "data"),
            "exec-root": str(self.work / "exec"),
            "pidfile": str(self.work / "docker.pid"),
            "hosts": [self.host],
            "cgroup-parent": f"sitedeploy-{self.label}",
            # Their runc needs a newer glibc than this machine's: the machine's runc runs
            # the containers (the engine's own containerd and shim are used).
            "runtimes": {"host-runc": {"path": "/usr/sbin/runc"}},
            "default-runtime": "host-runc",
            "features": {"containerd-snapshotter": self.containerd_store},
        }
        (self.work / "daemon.json").write_text(json.dumps(config, indent=2))
        path = f"{self.packages}/usr/sbin:{self.packages}/usr/bin:{os.environ['PATH']}"
        return f"dockerd --config-file={self.work}/daemon.json", {"PATH": path}

    def _podman(self) -> tuple[str, dict[str, str]]:
        """Podman's API service (rootful): its command line and environment, with its own
        configuration, storage and runtime folders under `work`."""
        root, work = self.packages, self.work
        # Root here lacks CAP_SYS_RESOURCE: containers get limits it may set.
        nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        # Podman 5's netavark defaults to nftables, which this machine has not.
        firewall = "" if self.name == "podman-4" else 'firewall_driver = "iptables"\n'
        files = {
            "containers.conf": f"""
[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]
seccomp_profile = "{root}/usr/share/containers/seccomp.json"
[engine]
conmon_path = ["{root}/usr/bin/conmon"]
helper_binaries_dir = ["{root}/usr/lib/podman", "{root}/usr/libexec/podman"]
runtime = "runc"
tmp_dir = "{work}/tmp"
static_dir = "{work}/libpod"
volume_path = "{work}/volumes"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{work}/events.log"
[engine.runtimes]
runc = ["/usr/sbin/runc"]
[network]
network_backend = "netavark"
network_config_dir = "{work}/networks"
{firewall}""",
            "storage.conf": f"""
[storage]
driver = "overlay"
graphroot = "{work}/storage"
runroot = "{work}/run"
""",
            # The tests' registry in the namespace, plain HTTP (Docker allows it for
            # 127.0.0.0/8 by itself; Podman only for a registry listed insecure).
            "registries.conf": "unqualified-search-registries = []\n[[registry]]\n"
            f'location = "{PODMAN_REGISTRY}"\ninsecure = true\n',
        }
        for name, text in files.items():
            (work / name).write_text(text)
        env = {
            "CONTAINERS_CONF": f"{work}/containers.conf",
            "CONTAINERS_STORAGE_CONF": f"{work}/storage.conf",
            "CONTAINERS_REGISTRIES_CONF": f"{work}/registries.conf",
        }
        service = f"{root}/usr/bin/podman system service --time=0 {self.host}"
        return service, env

    def start(self) -> None:
        self._unlink()  # what a run that was killed may have left
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        command, extra_env = self._podman() if self.podman else self._dockerd()
        log = (self.work / "engine.log").open("ab")
        self.process = subprocess.Popen(
            ["unshare", "--net", "--", "sh", "-c", f"ip link set lo up && exec {command}"],
            env={**os.environ, **extra_env}, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        own = Path("/proc/self/ns/net").stat().st_ino
        wait_until(
            20, lambda: Path(f"/proc/{self.pid}/ns/net").stat().st_ino != own,
            f"{self.label}'s network namespace",
        )  # fmt: skip
        self.namespace_fd = os.open(f"/proc/{self.pid}/ns/net", os.O_RDONLY)
        self._route()

        def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited; see {self.work}/engine.log")
            try:
                return bool(self.client().ping())
            except docker.errors.DockerException:
                return False

        wait_until(60, answers, self.label, hint=f"See {self.work}/engine.log.")

    def _route(self) -> None:
        """One veth pair, the host's end NAT'd: the namespace reaches Debian's mirror."""
        host_end, inside = f"10.213.{self.subnet}.1", f"10.213.{self.subnet}.2"
        pid = str(self.pid)
        _run("ip", "link", "add", self._veth, "type", "veth", "peer", "name", "eth0",
             "netns", pid)  # fmt: skip
        _run("ip", "addr", "add", f"{host_end}/30", "dev", self._veth)
        _run("ip", "link", "set", self._veth, "up")
        inside_ip = ("nsenter", "-t", pid, "-n", "ip")
        _run(*inside_ip, "addr", "add", f"{inside}/30", "dev", "eth0")
        _run(*inside_ip, "link", "set", "eth0", "up")
        _run(*inside_ip, "route", "add", "default", "via", host_end)
        for table, chain, *rule in self._rules():
            _run("iptables", "-t", table, "-I", chain, *rule)

    def _rules(self) -> list[list[str]]:
        """The host's iptables rules for the link: table, chain, rule."""
        source = f"10.213.{self.subnet}.0/30"
        return [
            ["nat", "POSTROUTING", "-s", source, "-j", "MASQUERADE"],
            ["filter", "DOCKER-USER", "-i", self._veth, "-j", "ACCEPT"],
            ["filter", "DOCKER-USER", "-o", self._veth, "-m", "conntrack", "--ctstate",
             "RELATED,ESTABLISHED", "-j", "ACCEPT"],
        ]  # fmt: skip

    def _unlink(self) -> None:
        """The link and its rules gone (each rule as often as it is there)."""
        for table, chain, *rule in self._rules():
            for _ in range(5):
                deleted = subprocess.run(
                    ["iptables", "-t", table, "-D", chain, *rule], capture_output=True
                )
                if deleted.returncode != 0:
                    break
        subprocess.run(["ip", "link", "del", self._veth], capture_output=True)

    def load(self, references: list[str]) -> None:
        """Move images from the machine's daemon, as `docker save | docker load` would."""
        save = subprocess.Popen(["docker", "save", *references], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "-H", self.host, "load", "-q"], stdin=save.stdout, check=True,
            capture_output=True, timeout=600,
        )  # fmt: skip
        if save.wait() != 0:
            raise RuntimeError(f"docker save {' '.join(references)} failed")

    def stop(self) -> None:
        with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
            for container in self.client().containers.list(all=True):
                container.remove(force=True)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in _processes_in(self.namespace):  # what it started and left (Podman's conmon)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._unlink()
        if self.namespace_fd >= 0:
            os.close(self.namespace_fd)
            self.namespace_fd = -1
        for mount in reversed(_mounts_under(self.work)):  # what the daemon left mounted
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)
