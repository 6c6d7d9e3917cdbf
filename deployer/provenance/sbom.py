"""What ships in the final image, and where each piece came from — as labels and as SBOM.

The runtime build writes a table of every file it copies into the FROM-scratch image
(path, sha256, Debian package, version); the site build adds the site's own files (count,
bytes, a content hash). Both are stamped into the image as labels, so the facts travel
with the image through any registry. From them `sitedeploy inspect --sbom` writes a
CycloneDX document (with the cyclonedx-python-lib library).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from deployer import __version__
from deployer.built_site import BuiltFile
from deployer.labels import Label, content_tag
from deployer.platforms import KNOWN

OURS = "sitedeploy"


@dataclass(frozen=True)
class ShippedFile:
    path: str
    sha256: str
    package: str  # a Debian package, or "sitedeploy" for our own files
    version: str


def parse_manifest(text: str) -> list[ShippedFile]:
    """The runtime build's `sbom.tsv`: path, sha256, package, version per line."""
    files = []
    for line in text.splitlines():
        if line.strip():
            path, sha256, package, version = line.split("\t")
            files.append(ShippedFile(path, sha256, package, version))
    return files


def _files_label(files: list[ShippedFile]) -> dict[str, str]:
    return {Label.SBOM_FILES: json.dumps([[f.path, f.sha256, f.package, f.version] for f in files])}


def runtime_labels(files: list[ShippedFile]) -> dict[str, str]:
    packages = sorted({f"{f.package}={f.version}" for f in files if f.package != OURS})
    return {**_files_label(files), Label.SBOM_PACKAGES: " ".join(packages)}


def replace_file(labels: dict[str, str], path: str, content: bytes) -> dict[str, str]:
    """The files label of `labels` with `path` now holding `content`, one of our files (a
    site image that replaces a runtime file, such as its own security-headers.conf)."""
    sha256 = hashlib.sha256(content).hexdigest()
    files = [f for f in files_from_labels(labels) if f.path != path]
    return _files_label([*files, ShippedFile(path, sha256, OURS, "-")])


def files_from_labels(labels: dict[str, str]) -> list[ShippedFile]:
    return [ShippedFile(*row) for row in json.loads(labels.get(Label.SBOM_FILES) or "[]")]


def site_digest(files: Iterable[BuiltFile]) -> str:
    """One hash for the site's content: sha256 over every file's path and sha256, by path."""
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda f: f.path):
        digest.update(f"{file.path}\0{file.sha256}\n".encode())
    return digest.hexdigest()


def site_labels(files: list[BuiltFile]) -> dict[str, str]:
    return {
        Label.SITE_FILES: str(len(files)),
        Label.SITE_BYTES: str(sum(f.size for f in files)),
        Label.SITE_SHA256: site_digest(files),
    }


@dataclass(frozen=True)
class BuiltGem:
    name: str
    version: str
    origin: str  # a gem source (no credentials), "debian" (a package) or "ruby" (default gem)


def parse_gems(text: str) -> list[BuiltGem]:
    """The builder stage's `gems.tsv`: name, version, where from, per gem the build used."""
    return [BuiltGem(*line.split("\t", 2)) for line in text.splitlines() if line.count("\t") >= 2]


def gem_labels(gems: list[BuiltGem]) -> dict[str, str]:
    return {Label.GEMS: json.dumps([[g.name, g.version, g.origin] for g in gems])}


def gems_from_labels(labels: dict[str, str]) -> list[BuiltGem]:
    return [BuiltGem(*row) for row in json.loads(labels.get(Label.GEMS) or "[]")]


def cyclonedx(image: str, image_id: str, labels: dict[str, str], suite: str | None) -> str:
    """A CycloneDX 1.5 JSON document for the image, from its labels. `suite` is the Debian
    suite of the runtime's packages (their purl's distro), None when it is not known."""
    # Imported here: the library is heavy, and only --sbom needs it.
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentScope, ComponentType
    from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
    from cyclonedx.output.json import JsonV1Dot5
    from packageurl import PackageURL

    qualifiers = {"distro": f"debian-{suite}"} if suite else {}
    if labels.get(Label.PLATFORM) in KNOWN:  # the runtime's CPU: its packages' architecture
        qualifiers["arch"] = KNOWN[labels[Label.PLATFORM]].debian_arch
    bom = Bom()
    bom.metadata.component = Component(
        type=ComponentType.CONTAINER,
        name=image,
        version=image_id,
        properties=[
            Property(name="sitedeploy:version", value=labels.get(Label.VERSION, __version__))
        ],
    )
    by_package: dict[tuple[str, str], list[ShippedFile]] = {}
    for file in files_from_labels(labels):
        by_package.setdefault((file.package, file.version), []).append(file)
    for (package, version), files in sorted(by_package.items()):
        evidence = ComponentEvidence(occurrences=[Occurrence(location=f.path) for f in files])
        if package == OURS:
            bom.components.add(
                Component(
                    type=ComponentType.FILE,
                    name="sitedeploy runtime files",
                    version=__version__,
                    evidence=evidence,
                    properties=[Property(name=f"sha256:{f.path}", value=f.sha256) for f in files],
                )
            )
            continue
        bom.components.add(
            Component(
                type=ComponentType.LIBRARY
                if package.startswith("lib")
                else ComponentType.APPLICATION,
                name=package,
                version=version,
                purl=PackageURL(
                    type="deb",
                    namespace="debian",
                    name=package,
                    version=version,
                    qualifiers=qualifiers,
                ),
                evidence=evidence,
                properties=[Property(name=f"sha256:{f.path}", value=f.sha256) for f in files],
            )
        )
    if labels.get(Label.SITE_SHA256):
        bom.components.add(
            Component(
                type=ComponentType.DATA,
                name=f"site {labels.get(Label.TITLE, '')}".strip(),
                version=content_tag(labels.get(Label.CONTENT_HASH, "")),
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=labels[Label.SITE_SHA256])],
                properties=[
                    Property(name="sitedeploy:site-files", value=labels.get(Label.SITE_FILES, "")),
                    Property(name="sitedeploy:site-bytes", value=labels.get(Label.SITE_BYTES, "")),
                    Property(name="sitedeploy:root", value="/srv/www"),
                ],
            )
        )
    root = bom.metadata.component
    bom.register_dependency(root, list(bom.components))  # the image contains them all
    # The gems built the site in the builder stage; none of them ships in the image.
    for gem in gems_from_labels(labels):
        bom.components.add(
            Component(
                type=ComponentType.LIBRARY,
                name=gem.name,
                version=gem.version,
                scope=ComponentScope.EXCLUDED,
                purl=PackageURL(type="gem", name=gem.name, version=gem.version),
                properties=[Property(name="sitedeploy:gem-origin", value=gem.origin)],
            )
        )
    return str(JsonV1Dot5(bom).output_as_string(indent=2))


def summary(labels: dict[str, str]) -> dict[str, Any]:
    files = files_from_labels(labels)
    return {
        "gems_way": labels.get(Label.GEMS_WAY),
        "gems": [gem.__dict__ for gem in gems_from_labels(labels)],
        "packages": labels.get(Label.SBOM_PACKAGES, "").split(),
        "files": [f.__dict__ for f in files],
        "site": {
            "files": int(labels.get(Label.SITE_FILES) or 0),
            "bytes": int(labels.get(Label.SITE_BYTES) or 0),
            "sha256": labels.get(Label.SITE_SHA256),
        },
    }


def platform_labels(
    site: dict[str, str], native_runtime: dict[str, str], runtime: dict[str, str], runtime_id: str
) -> dict[str, str]:
    """The labels of the site's image on another CPU's `runtime`: what the site image
    inherited from the engine's own runtime comes from that runtime instead, and the files
    the site put over the runtime's (its own nginx files) stay the site's."""
    inherited = {key for key, value in native_runtime.items() if site.get(key) == value}
    labels = {key: value for key, value in site.items() if key not in inherited}
    labels.update({k: v for k, v in runtime.items() if k in inherited or k not in site})
    native_files = set(files_from_labels(native_runtime))
    own = [f for f in files_from_labels(site) if f not in native_files]
    replaced = {f.path for f in own}
    files = [f for f in files_from_labels(runtime) if f.path not in replaced] + own
    labels.update(runtime_labels(files))
    labels[Label.RUNTIME] = runtime_id
    return labels


def runtime_differences(before: list[ShippedFile], after: list[ShippedFile]) -> list[str]:
    """How a rebuilt runtime's files differ from the runtime's: one line per file."""
    old = {f.path: f for f in before}
    new = {f.path: f for f in after}
    lines = []
    for path in sorted(old.keys() | new.keys()):
        was, now = old.get(path), new.get(path)
        if was is None or now is None:
            lines.append(f"{path}: only in the {'rebuild' if was is None else 'runtime'}")
        elif was != now:
            lines.append(
                f"{path}: {was.package} {was.version} sha256 {was.sha256[:12]} in the runtime, "
                f"{now.package} {now.version} sha256 {now.sha256[:12]} rebuilt"
            )
    return lines
