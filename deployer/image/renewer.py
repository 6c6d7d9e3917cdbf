"""The image of a live site's certificate renewer (docker/acme/: Debian's python3-acme and
sitedeploy's renewer.py), built once per Debian base and shared by every site.
"""

from __future__ import annotations

from deployer.config import SiteConfig
from deployer.digests import inputs_hash
from deployer.engine import Engine
from deployer.image.bases import resolve_base
from deployer.image.builders import BuildRequest, choose_builder, run_build
from deployer.image.context import scan_context
from deployer.image.dockerfile import render_renewer_dockerfile
from deployer.labels import RENEWER_REPOSITORY, Label, Role
from deployer.progress import Progress
from deployer.resources import docker_dir
from deployer.site import Site

RENEWER_STAGE = "renewer"


def ensure_renewer_image(engine: Engine, site: Site, config: SiteConfig, progress: Progress) -> str:
    """The renewer image's tag (built here, on the Debian base of [images] nginx, if
    missing)."""
    base = resolve_base(engine, config.nginx_image, config.debian_mirror, progress)
    dockerfile = render_renewer_dockerfile(base=base.reference)
    context = scan_context(docker_dir() / "acme")
    tag = (
        f"{RENEWER_REPOSITORY}:{inputs_hash(dockerfile, context.content_hash, base.image_id)[:12]}"
    )
    if engine.find_image(tag) is not None:
        return tag
    with progress.step(f"Building the certificate renewer image {tag}"):
        labels: dict[str, str] = {Label.ROLE: Role.RENEWER, Label.TITLE: "sitedeploy ACME renewer"}
        request = BuildRequest(context, dockerfile, tag, RENEWER_STAGE, labels)
        run_build(choose_builder(engine, config.engine), request, site, progress)
    return tag
