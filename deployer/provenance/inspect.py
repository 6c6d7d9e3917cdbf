"""What is in an image, and where every byte of it came from (`sitedeploy inspect`).

Everything is read from the image itself (its labels and history), so it works on an
image pulled from a registry as well as on one built here:

* the recipe: the instructions of the final image's stages (the runtime's and the site's
  rendered Dockerfiles travel in labels) next to `docker history --no-trunc`, paired;
* the bases: for each stage, what was asked for, the image used, pulled or bootstrapped
  here (with the Debian suite, mirror and root filesystem tarball's sha256);
* the bill of materials: every file copied from a Debian package, with its package and
  version, and the site's own files (count, bytes, content hash);
* the Content-Security-Policy: how it was made, and where each source it allows came from.

`--verify` (commands/inspect.py) rebuilds the site with the same inputs and compares.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer.debian import debian_suite
from deployer.engine import Engine
from deployer.errors import EngineError, SitedeployError
from deployer.labels import BaseStage, Label, base
from deployer.provenance.recipe import RecipeLine, pair_recipe, stage_instructions
from deployer.provenance.sbom import cyclonedx, summary
from deployer.waiting import wait_until


@dataclass
class Inspection:
    image: str
    image_id: str
    labels: dict[str, str]
    recipe: list[RecipeLine]
    bases: list[dict[str, Any]]
    sbom: dict[str, Any]
    dockerfile: str | None
    csp: dict[str, Any]  # the policy, and where each allowed source came from (Label.CSP)

    def as_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "image_id": self.image_id,
            "recipe": [line.__dict__ for line in self.recipe],
            "bases": self.bases,
            "sbom": self.sbom,
            "csp": self.csp,
            "dockerfile": self.dockerfile,
            "labels": self.labels,
        }


def _exit_code(container: Any) -> int | None:
    """Its exit code once it ran and stopped ("exited"; Podman says "stopped")."""
    container.reload()
    state = container.attrs["State"]
    if state.get("Running") or state.get("Status") == "created":
        return None
    return int(state.get("ExitCode") or 0)


def _packages_in(engine: Engine, reference: str) -> list[str] | None:
    """`package=version` for every package of a Debian image present here (else None)."""
    try:
        with engine.errors(f"Listing the Debian packages of {reference}"):
            container = engine.client.containers.run(
                reference,
                ["dpkg-query", "-W", "--showformat=${Package}=${Version}\\n"],
                detach=True,
                network_disabled=True,
            )
            try:  # its state, polled: Podman 4 answers a container's wait 20 s late
                code = wait_until(60, lambda: _exit_code(container), f"dpkg-query in {reference}")
                output = container.logs(stdout=True, stderr=False) if code == 0 else None
            finally:
                container.remove(force=True)
    except SitedeployError:
        return None  # not here (a pulled image's base), or not a Debian image
    if output is None:
        return None
    return sorted(line for line in output.decode().splitlines() if line)


def _bases(engine: Engine, labels: dict[str, str]) -> list[dict[str, Any]]:
    bases = []
    for stage in BaseStage:
        requested, _, image_id = labels.get(base(stage), "").partition(" ")
        if not requested:
            continue
        reference = labels.get(base(stage, "reference"), requested)
        found: dict[str, Any] = {
            "stage": "builder" if stage is BaseStage.BUILDER else "nginx",
            "requested": requested,
            "image": reference,
            "id": image_id,
            "origin": labels.get(base(stage, "origin")),
            "repo_digest": labels.get(base(stage, "digest")),
        }
        if found["origin"] == "bootstrapped":
            found.update(
                suite=labels.get(base(stage, "suite")),
                mirror=labels.get(base(stage, "mirror")),
                rootfs_sha256=labels.get(base(stage, "rootfs-sha256")),
                packages=_packages_in(engine, image_id or reference),
            )
        bases.append(found)
    return bases


def runtime_suite(labels: dict[str, str]) -> str | None:
    """The Debian suite the runtime's files come from: the suite a bootstrapped nginx base
    was made of, else the suite its official reference names (`debian:12-slim` ->
    bookworm); None when the labels do not tell (then no SBOM entry claims one)."""
    suite = labels.get(base(BaseStage.NGINX, "suite"))
    if suite:
        return suite
    requested = labels.get(base(BaseStage.NGINX), "").partition(" ")[0]
    return debian_suite(requested) if requested else None


def inspect_image(engine: Engine, reference: str) -> Inspection:
    """Read everything sitedeploy knows about an image from the image itself."""
    image = engine.find_image(reference)
    if image is None:
        raise EngineError(
            f"No image {reference} here. Build it (`sitedeploy build`) or pull it first."
        )
    labels = dict(image.labels or {})
    runtime = labels.get(Label.RUNTIME_DOCKERFILE, "")
    dockerfile = labels.get(Label.DOCKERFILE)
    instructions = stage_instructions(runtime, "runtime") + stage_instructions(
        dockerfile or "", "nginx"
    )
    history = [(layer.created_by, layer.size) for layer in engine.history(str(image.id))]
    return Inspection(
        image=reference,
        image_id=str(image.id),
        labels=labels,
        recipe=pair_recipe(instructions, history),
        bases=_bases(engine, labels),
        sbom=summary(labels),
        dockerfile=dockerfile,
        csp=json.loads(labels.get(Label.CSP) or "{}"),
    )


def write_sbom(found: Inspection, path: Path) -> None:
    """The image's bill of materials as a CycloneDX JSON file."""
    path.write_text(
        cyclonedx(found.image, found.image_id, found.labels, runtime_suite(found.labels))
    )
