"""`sitedeploy inspect`: what is in an image, and where every byte of it came from.

Everything is read from the image itself (its labels and history), so it works on an
image pulled from a registry as well as on one built here:

* the recipe: the instructions of the final image's stages (the runtime's and the site's
  rendered Dockerfiles travel in labels) next to `docker history --no-trunc`, paired;
* the bases: for each stage, what was asked for, the image used, pulled or bootstrapped
  here (with the Debian suite, mirror and root filesystem tarball's sha256);
* the bill of materials: every file copied from a Debian package, with its package and
  version, and the site's own files (count, bytes, content hash).

`--verify` rebuilds the site with the same inputs and compares: same inputs, same bytes.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
from dataclasses import dataclass, field
from typing import Any

import docker.errors

from deployer.build.images import DOCKERFILE_LABEL, RUNTIME_DOCKERFILE_LABEL, build_site
from deployer.build.sitefiles import BuiltSite, extract_built_site
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import EngineError
from deployer.progress import Progress
from deployer.provenance.sbom import SITE_SHA256_LABEL, site_digest, summary
from deployer.site import CONTENT_LABEL, Site, cache_dir

_STAGES = ("builder-base", "nginx-base")


@dataclass(frozen=True)
class RecipeLine:
    instruction: str | None  # from the rendered Dockerfile
    created_by: str | None  # from the image history
    size: int
    matches: bool


@dataclass
class Inspection:
    image: str
    image_id: str
    labels: dict[str, str]
    recipe: list[RecipeLine]
    bases: list[dict[str, Any]]
    sbom: dict[str, Any]
    dockerfile: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "image_id": self.image_id,
            "recipe": [line.__dict__ for line in self.recipe],
            "bases": self.bases,
            "sbom": self.sbom,
            "dockerfile": self.dockerfile,
            "labels": self.labels,
        }


def _logical_lines(dockerfile: str) -> list[str]:
    """Instructions with continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in dockerfile.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(" ".join((current + stripped).split()))
        current = ""
    return lines


def stage_instructions(dockerfile: str, stage: str) -> list[str]:
    """The instructions of the stage named `stage`, without its FROM line."""
    found: list[str] | None = None
    for line in _logical_lines(dockerfile):
        if line.upper().startswith("FROM "):
            if found is not None:
                break
            if re.search(rf"\s+AS\s+{re.escape(stage)}$", line, re.IGNORECASE):
                found = []
            continue
        if found is not None and not line.upper().startswith("ARG "):
            found.append(line)
    return found or []


def _key(text: str) -> str:
    """What an instruction and its history entry have in common, whichever builder made it."""
    text = text.replace("/bin/sh -c #(nop) ", "").replace(" # buildkit", "").strip()
    keyword, _, rest = text.partition(" ")
    keyword = keyword.upper()
    quoted = re.findall(r'"((?:[^"\\]|\\.)*)"', rest)
    if keyword in {"COPY", "ADD"}:
        return f"{keyword} {rest.split()[-1].rstrip('/') if rest.split() else ''}"
    if keyword == "EXPOSE":
        return "EXPOSE " + " ".join(sorted(re.findall(r"\d+", rest)))
    if keyword in {"ENTRYPOINT", "CMD"}:
        return f"{keyword} {' '.join(quoted)}"
    if keyword == "HEALTHCHECK":
        return "HEALTHCHECK " + next((q for q in quoted if q.startswith("/")), rest)
    return f"{keyword} {' '.join(rest.split())}"


def pair_recipe(instructions: list[str], history: list[tuple[str, int]]) -> list[RecipeLine]:
    """History entries (oldest first) paired with the instructions that made them."""
    lines: list[RecipeLine] = []
    remaining = list(instructions)
    for created_by, size in history:
        key = _key(created_by)
        match = next((i for i, text in enumerate(remaining) if _key(text) == key), None)
        if match is None:
            lines.append(RecipeLine(None, created_by, size, False))
            continue
        for skipped in remaining[:match]:  # instructions that left no history entry
            lines.append(RecipeLine(skipped, None, 0, False))
        lines.append(RecipeLine(remaining[match], created_by, size, True))
        remaining = remaining[match + 1 :]
    lines.extend(RecipeLine(text, None, 0, False) for text in remaining)
    return lines


def _packages_in(engine: Engine, reference: str) -> list[str] | None:
    """`package=version` for every package of a Debian image present here (else None)."""
    try:
        output = engine.client.containers.run(
            reference,
            ["dpkg-query", "-W", "--showformat=${Package}=${Version}\\n"],
            remove=True,
            network_disabled=True,
        )
    except (docker.errors.ImageNotFound, docker.errors.APIError):
        return None
    return sorted(line for line in output.decode().splitlines() if line)


def _bases(engine: Engine, labels: dict[str, str]) -> list[dict[str, Any]]:
    bases = []
    for stage in _STAGES:
        prefix = f"io.sitedeploy.{stage}"
        requested, _, image_id = labels.get(prefix, "").partition(" ")
        if not requested:
            continue
        reference = labels.get(f"{prefix}.reference", requested)
        base: dict[str, Any] = {
            "stage": "builder" if stage == "builder-base" else "nginx",
            "requested": requested,
            "image": reference,
            "id": image_id,
            "origin": labels.get(f"{prefix}.origin"),
            "repo_digest": labels.get(f"{prefix}.digest"),
        }
        if base["origin"] == "bootstrapped":
            base.update(
                suite=labels.get(f"{prefix}.suite"),
                mirror=labels.get(f"{prefix}.mirror"),
                rootfs_sha256=labels.get(f"{prefix}.rootfs-sha256"),
                packages=_packages_in(engine, image_id or reference),
            )
        bases.append(base)
    return bases


def inspect_image(engine: Engine, reference: str) -> Inspection:
    """Read everything sitedeploy knows about an image from the image itself."""
    with engine.errors(f"Inspecting {reference}"):
        try:
            image = engine.client.images.get(reference)
        except docker.errors.ImageNotFound:
            raise EngineError(
                f"No image {reference} here. Build it (`sitedeploy build`) or pull it first."
            ) from None
        history: list[dict[str, Any]] = engine.api.history(image.id)  # type: ignore[no-untyped-call]
    labels = dict(image.labels or {})
    runtime = labels.get(RUNTIME_DOCKERFILE_LABEL, "")
    dockerfile = labels.get(DOCKERFILE_LABEL)
    instructions = stage_instructions(runtime, "runtime") + stage_instructions(
        dockerfile or "", "nginx"
    )
    entries = [(str(e.get("CreatedBy") or ""), int(e.get("Size") or 0)) for e in reversed(history)]
    return Inspection(
        image=reference,
        image_id=str(image.id),
        labels=labels,
        recipe=pair_recipe(instructions, entries),
        bases=_bases(engine, labels),
        sbom=summary(labels),
        dockerfile=dockerfile,
    )


@dataclass
class Verification:
    image: str
    content_hash: str
    rebuilt_content_hash: str
    site_sha256: str
    rebuilt_site_sha256: str
    differences: list[str] = field(default_factory=list)

    @property
    def same_inputs(self) -> bool:
        return self.content_hash == self.rebuilt_content_hash

    @property
    def reproduced(self) -> bool:
        return self.same_inputs and self.site_sha256 == self.rebuilt_site_sha256

    def as_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "same_inputs": self.same_inputs,
            "reproduced": self.reproduced,
            "content_hash": self.content_hash,
            "rebuilt_content_hash": self.rebuilt_content_hash,
            "site_sha256": self.site_sha256,
            "rebuilt_site_sha256": self.rebuilt_site_sha256,
            "differences": self.differences,
        }


def _differences(before: BuiltSite, after: BuiltSite) -> list[str]:
    old = {f.path: f.sha256 for f in before.files}
    new = {f.path: f.sha256 for f in after.files}
    changed = [f"changed: {p}" for p in sorted(old.keys() & new.keys()) if old[p] != new[p]]
    return [
        *changed,
        *(f"added: {p}" for p in sorted(new.keys() - old.keys())),
        *(f"removed: {p}" for p in sorted(old.keys() - new.keys())),
    ]


def verify_site(engine: Engine, site: Site, config: SiteConfig, progress: Progress) -> Verification:
    """Rebuild the site from scratch with its current inputs; compare with its last image."""
    reference = f"{site.repository}:latest"
    inspection = inspect_image(engine, reference)
    content = inspection.labels.get(CONTENT_LABEL, "")
    before = extract_built_site(
        engine, f"{site.builder_repository}:{content[:12]}", site, content, into="verify-before"
    )
    token = secrets.token_hex(4)
    try:
        rebuilt = build_site(engine, site, config, progress, rebuild=token)
        return Verification(
            image=reference,
            content_hash=content,
            rebuilt_content_hash=rebuilt.content_hash,
            site_sha256=inspection.labels.get(SITE_SHA256_LABEL, ""),
            rebuilt_site_sha256=site_digest(rebuilt.built.files),
            differences=_differences(before, rebuilt.built),
        )
    finally:
        for repository in (site.repository, site.builder_repository):
            with contextlib.suppress(docker.errors.APIError):
                engine.client.images.remove(f"{repository}:verify-{token}", noprune=False)
        for folder in (f"verify-{token}", "verify-before"):
            shutil.rmtree(cache_dir(site) / folder, ignore_errors=True)
            (cache_dir(site) / f"{folder}.content-hash").unlink(missing_ok=True)
