"""An image counted from its `docker save` archive as Docker's classic store counts it."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from deployer.image_facts import ImageFacts, facts_from_save, file_bytes, image_facts, uncompressed


def _tar(entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                archive.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                archive.addfile(info, io.BytesIO(entry[1]))
    return out.getvalue()


def _special(name: str, kind: bytes, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


LAYER_ONE = _tar([
    _special("usr", tarfile.DIRTYPE),
    ("usr/bin-nginx", b"x" * 1000),
    _special("usr/nginx-link", tarfile.SYMTYPE, "bin-nginx"),  # 9 bytes, as lstat says
    _special("usr/hard", tarfile.LNKTYPE, "usr/bin-nginx"),  # the same file: counted once
])  # fmt: skip
LAYER_TWO = _tar([("srv/index.html", b"<p>hi</p>"), ("srv/.wh.old.html", b"")])
CONFIG = json.dumps({
    "rootfs": {"type": "layers", "diff_ids": []},
    "history": [
        {"created_by": "COPY rootfs /"},
        {"created_by": "ENV A=b", "empty_layer": True},
        {"created_by": "COPY www /srv"},
    ],
}).encode()  # fmt: skip


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _oci_save(layers: list[bytes]) -> bytes:
    """What the containerd store's `docker save` writes: blobs first, some gzipped."""
    blobs = {f"blobs/sha256/{_digest(data)}": data for data in [*layers, CONFIG]}
    manifest = [{"Config": f"blobs/sha256/{_digest(CONFIG)}", "Layers": list(blobs)[:-1]}]
    return _tar([*blobs.items(), ("manifest.json", json.dumps(manifest).encode())])


def _chunks(data: bytes, size: int = 777) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_a_layer_counts_its_files_as_the_classic_store_does() -> None:
    assert file_bytes(io.BytesIO(LAYER_ONE)) == 1000 + len("bin-nginx")
    assert file_bytes(io.BytesIO(LAYER_TWO)) == len(b"<p>hi</p>")  # a whiteout counts nothing
    assert file_bytes(io.BytesIO(gzip.compress(LAYER_ONE))) == 1009


def test_facts_from_an_oci_layout_save_with_a_gzipped_layer() -> None:
    counts: dict[str, int] = {}
    facts = facts_from_save(_chunks(_oci_save([LAYER_ONE, gzip.compress(LAYER_TWO)])), counts)
    assert facts.config_digest == f"sha256:{_digest(CONFIG)}"
    assert facts.layer_bytes == (1009, 9)
    assert facts.size == 1018
    assert facts.history_sizes() == [("COPY rootfs /", 1009), ("ENV A=b", 0), ("COPY www /srv", 9)]
    assert counts[_digest(LAYER_ONE)] == 1009  # remembered by the saved file's digest


def test_a_layer_counted_before_is_not_read_again() -> None:
    counts = {_digest(LAYER_ONE): 4242}
    facts = facts_from_save(_chunks(_oci_save([LAYER_ONE, LAYER_TWO])), counts)
    assert facts.layer_bytes == (4242, 9)


def test_facts_from_a_docker_archive_save() -> None:
    """Docker's own layout (20.10, Podman): <id>/layer.tar and a config named <hex>.json."""
    manifest = [{"Config": "c0ffee.json", "Layers": ["aa/layer.tar", "bb/layer.tar"]}]
    saved = _tar([
        ("aa/layer.tar", LAYER_ONE), ("bb/layer.tar", LAYER_TWO), ("c0ffee.json", CONFIG),
        ("manifest.json", json.dumps(manifest).encode()),
    ])  # fmt: skip
    facts = facts_from_save([saved], {})
    assert facts.layer_bytes == (1009, 9) and facts.config_digest.endswith(_digest(CONFIG))


def test_an_image_is_read_once_per_machine(tmp_path: Path) -> None:
    cache = tmp_path / "facts.json"
    saves: list[int] = []

    def save() -> list[bytes]:
        saves.append(1)
        return [_oci_save([LAYER_ONE, LAYER_TWO])]

    first = image_facts("sha256:" + "e" * 64, save, cache)
    again = image_facts("sha256:" + "e" * 64, save, cache)
    assert first == again == ImageFacts(first.config_digest, (1009, 9), first.history)
    assert len(saves) == 1


@pytest.mark.parametrize("packed", [False, True])
def test_uncompressed_reads_a_layer_either_way(packed: bool) -> None:
    data = gzip.compress(LAYER_TWO) if packed else LAYER_TWO
    with uncompressed(io.BytesIO(data)) as stream:
        assert stream.read() == LAYER_TWO


def test_the_cache_keeps_the_newest_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("deployer.image_facts.KEPT_IMAGES", 2)
    cache = tmp_path / "facts.json"
    for n in "abc":
        image_facts(f"sha256:{n * 64}", lambda: [_oci_save([LAYER_ONE])], cache)
    kept = json.loads(cache.read_text())["images"]
    assert list(kept) == [f"sha256:{'b' * 64}", f"sha256:{'c' * 64}"]
