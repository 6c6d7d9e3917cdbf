from deployer.engine_kind import engine_kind

DOCKER_20 = (
    {"Version": "20.10.24+dfsg1", "ApiVersion": "1.41", "Arch": "amd64",
     "Components": [{"Name": "Engine"}, {"Name": "containerd"}, {"Name": "runc"}]},
    {"Driver": "overlay2", "DockerRootDir": "/var/lib/docker",
     "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]]},
)  # fmt: skip
DOCKER_28_CONTAINERD = (
    {"Version": "28.5.2", "ApiVersion": "1.51", "Arch": "arm64",
     "Components": [{"Name": "Engine"}, {"Name": "containerd"}]},
    {"Driver": "overlayfs", "DockerRootDir": "/srv/docker",
     "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]},
)  # fmt: skip
PODMAN_4 = (
    {"Version": "4.3.1", "ApiVersion": "1.41", "Arch": "amd64",
     "Components": [{"Name": "Podman Engine", "Version": "4.3.1"}]},
    {"Driver": "overlay", "DriverStatus": None},
)  # fmt: skip


def test_docker_20_with_the_classic_store() -> None:
    kind = engine_kind(*DOCKER_20)
    assert (kind.product, kind.podman, kind.containerd_store, kind.buildkit) == (
        "Docker Engine", False, False, True,
    )  # fmt: skip
    assert kind.line() == (
        "Engine: Docker Engine 20.10.24+dfsg1 (API 1.41), amd64, classic image store "
        "(overlay2), BuildKit"
    )
    assert kind.classic_store  # its ids and sizes are what sitedeploy reports everywhere


def test_docker_28_with_the_containerd_store() -> None:
    kind = engine_kind(*DOCKER_28_CONTAINERD)
    assert kind.containerd_store and kind.buildkit and kind.arch == "arm64"
    assert kind.data_root == "/srv/docker"
    assert not kind.classic_store
    assert "containerd image store (overlayfs)" in kind.line()


def test_podman_builds_without_buildkit() -> None:
    kind = engine_kind(*PODMAN_4)
    assert kind.podman and not kind.buildkit and not kind.containerd_store
    assert not kind.classic_store  # Podman's sizes count tar streams, not files
    assert kind.line().startswith("Engine: Podman 4.3.1 (API 1.41), amd64")
    assert kind.line().endswith("classic builds only")
