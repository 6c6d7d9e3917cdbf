"""`sitedeploy build`: from a site folder to its images.

Stages, in order: read what the site needs (plugins → Debian packages), scan the build
context, resolve the base images, make sure the shared nginx runtime image exists, render
the site's Dockerfile, then build the builder stage and the final nginx image.

Images are tagged by a content hash of every build input (site files, rendered Dockerfile,
base and runtime image ids, sitedeploy's version): the same inputs give the same tag, and a
tag that already exists is reused without building.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import docker.errors
from rich.filesize import decimal

from deployer import __version__
from deployer.build.bases import BaseImage, resolve_base
from deployer.build.builders import Builder, BuildOutput, BuildRequest, choose_builder
from deployer.build.context import scan_context
from deployer.build.dockerfile import (
    BUILDER_STAGE,
    FINAL_STAGE,
    render_runtime_dockerfile,
    render_site_dockerfile,
)
from deployer.build.headers import SITE_CONF, render_conf, site_headers
from deployer.build.jekyll_log import jekyll_error, jekyll_warnings
from deployer.build.plugins import read_requirements
from deployer.build.sitefiles import BuiltSite, extract_built_site, read_image_file
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import BuildFailed, DiskFull, JekyllFailed
from deployer.progress import Progress
from deployer.provenance.sbom import (
    parse_manifest,
    parse_site_manifest,
    replace_file,
    runtime_labels,
    site_labels,
)
from deployer.resources import docker_dir
from deployer.site import BASEURL_LABEL, CONTENT_LABEL, ROLE_LABEL, SITE_URL_LABEL, Site

RUNTIME_REPOSITORY = "sitedeploy/nginx-runtime"
DOCKERFILE_LABEL = "io.sitedeploy.dockerfile"
RUNTIME_DOCKERFILE_LABEL = "io.sitedeploy.runtime-dockerfile"
HEADERS_LABEL = "io.sitedeploy.headers"


@dataclass(frozen=True)
class ImageInfo:
    tag: str
    id: str
    size: int
    layers: int


@dataclass(frozen=True)
class SiteImages:
    """The result of a site build."""

    image: ImageInfo
    builder: ImageInfo
    runtime: ImageInfo
    bases: tuple[BaseImage, ...]
    content_hash: str
    built: BuiltSite  # the `_site` Jekyll wrote, copied out of the builder image
    baseurl: str
    site_url: str
    dockerfile: str
    builder_name: str
    reused: bool
    seconds: float
    warnings: tuple[str, ...] = field(default=())


def image_info(engine: Engine, tag: str) -> ImageInfo | None:
    """Size and layer count of a local image, or None if there is no such image."""
    try:
        image = engine.client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    layers = image.attrs.get("RootFS", {}).get("Layers") or []
    return ImageInfo(
        tag=tag, id=str(image.id), size=int(image.attrs.get("Size", 0)), layers=len(layers)
    )


def _hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _tail(lines: list[str], count: int = 15) -> str:
    return "\n".join(f"  {line}" for line in lines[-count:])


# Room the daemon needs besides the context: package layers, the site twice, exports.
HEADROOM_BYTES = 1_000_000_000


def check_disk_space(engine: Engine, context_bytes: int) -> None:
    """Refuse to start a build the daemon's disk cannot hold (local daemons only)."""
    if not engine.is_local:
        return
    with engine.errors("Reading the daemon's data folder"):
        root = str(engine.client.info().get("DockerRootDir") or "/var/lib/docker")
    try:
        free = shutil.disk_usage(root).free
    except OSError:
        return  # not visible from here (another mount namespace): let the daemon decide
    needed = 2 * context_bytes + HEADROOM_BYTES
    if free < needed:
        raise DiskFull(
            f"The Docker data folder {root} has {decimal(free)} free; this build needs about "
            f"{decimal(needed)}. Free space (`docker system prune` removes unused images and "
            "build cache), then run again."
        )


def _raise_for(output: BuildOutput, site: Site, what: str) -> None:
    step = output.failed_step
    text = "\n".join([output.error or "", *(step.lines if step else [])])
    if "no space left on device" in text:
        raise DiskFull(
            f"Building {what} failed: the Docker daemon ran out of disk space. Free space "
            "(`docker system prune` removes unused images and build cache), then run again."
        )
    if step and "jekyll build" in step.instruction:
        raise JekyllFailed(
            f"Jekyll could not build {site.path}:\n{jekyll_error(step.lines)}\n"
            "Fix the file named above and run again."
        )
    if step and "apt-get install" in step.instruction:
        raise BuildFailed(
            f"Installing Debian packages for {what} failed:\n{_tail(step.lines)}\n"
            "Check the package names ([build] packages in sitedeploy.toml) and that the "
            "Debian mirror is reachable from containers."
        )
    instruction = f" at `{step.instruction}`" if step else ""
    lines = _tail(step.lines) if step else ""
    raise BuildFailed(f"Building {what} failed{instruction}: {output.error}\n{lines}".rstrip())


def _run_build(
    builder: Builder, request: BuildRequest, site: Site, progress: Progress
) -> BuildOutput:
    output = builder.build(request, progress)
    if output.error or not output.image_id:
        _raise_for(output, site, request.tag)
    return output


def ensure_runtime(
    engine: Engine, builder: Builder, nginx_base: BaseImage, site: Site, progress: Progress
) -> tuple[ImageInfo, str]:
    """The shared nginx runtime image for this base (built once, reused by every site),
    and the tag of its companion `tools` image (the pack stage's precompressor).

    The tools image is built first: it carries the runtime's bill of materials, which is
    stamped into the runtime image's labels (and so into every site image built on it).
    """
    dockerfile = render_runtime_dockerfile(nginx_base=nginx_base.reference)
    context = scan_context(docker_dir() / "runtime")
    tag = (
        f"{RUNTIME_REPOSITORY}:{_hash(dockerfile, context.content_hash, nginx_base.image_id)[:12]}"
    )
    tools = f"{tag}-tools"
    existing = image_info(engine, tag)
    if existing and image_info(engine, tools) and image_info(engine, f"{tag}-build"):
        return existing, tools
    with progress.step(f"Building the nginx runtime image {tag}"):
        # The build stage is kept too: `inspect` asks its dpkg where each file came from.
        for target, name in (("nginx-build", f"{tag}-build"), ("tools", tools)):
            labels = {ROLE_LABEL: target, "org.opencontainers.image.title": f"sitedeploy {target}"}
            request = BuildRequest(context, dockerfile, name, target, labels)
            _run_build(builder, request, site, progress)
        manifest = read_image_file(engine, tools, "/runtime-sbom.tsv").decode()
        labels = {
            ROLE_LABEL: "runtime",
            "org.opencontainers.image.title": "sitedeploy nginx runtime",
            RUNTIME_DOCKERFILE_LABEL: dockerfile,
            **runtime_labels(parse_manifest(manifest)),
        }
        _run_build(
            builder, BuildRequest(context, dockerfile, tag, "runtime", labels), site, progress
        )
    info = image_info(engine, tag)
    assert info is not None
    return info, tools


def _base_labels(*bases: BaseImage) -> dict[str, str]:
    """Where each stage's base came from: pulled (with its digest) or bootstrapped here."""
    labels = {}
    for stage, base in zip(("builder-base", "nginx-base"), bases, strict=True):
        labels[f"io.sitedeploy.{stage}.origin"] = base.origin.value
        labels[f"io.sitedeploy.{stage}.reference"] = base.reference
        if base.repo_digest:
            labels[f"io.sitedeploy.{stage}.digest"] = base.repo_digest
        for key, value in base.labels.items():
            if key.startswith("io.sitedeploy.bootstrap."):
                labels[f"io.sitedeploy.{stage}.{key.rsplit('.', 1)[-1]}"] = value
    return labels


def build_site(
    engine: Engine,
    site: Site,
    config: SiteConfig,
    progress: Progress,
    *,
    rebuild: str | None = None,
) -> SiteImages:
    """Build (or reuse) the site's builder and nginx images.

    With `rebuild` (a token), Jekyll and the pack stage run again whatever the caches hold,
    into tags `verify-<token>` that leave the site's own tags alone: `inspect --verify`
    compares that rebuild with the image it has.
    """
    started = time.monotonic()
    requirements = read_requirements(site.path, config.jekyll_config, config.packages)
    context = scan_context(site.path)
    check_disk_space(engine, context.total_bytes)
    warnings = [*requirements.warnings, *context.warnings]
    builder = choose_builder(engine, config.engine)

    with progress.step("Resolving base images"):
        builder_base = resolve_base(engine, config.builder_image, config.debian_mirror, progress)
        nginx_base = resolve_base(engine, config.nginx_image, config.debian_mirror, progress)
    runtime, tools = ensure_runtime(engine, builder, nginx_base, site, progress)

    headers = site_headers(config.headers) if config.headers else None
    headers_conf = render_conf(headers) if headers is not None else None
    dockerfile = render_site_dockerfile(
        site_name=site.name,
        site_id=site.id,
        builder_base=builder_base.reference,
        runtime_image=runtime.tag,
        tools_image=tools,
        requirements=requirements,
        buildkit=builder.name.startswith("BuildKit"),
        headers_conf=headers_conf,
    )
    content_hash = _hash(
        __version__, context.content_hash, dockerfile, builder_base.image_id, runtime.id
    )
    suffix = f"verify-{rebuild}" if rebuild else content_hash[:12]
    tag, builder_tag = f"{site.repository}:{suffix}", f"{site.builder_repository}:{suffix}"
    extracted = f"verify-{rebuild}" if rebuild else "_site"
    image, builder_image = image_info(engine, tag), image_info(engine, builder_tag)
    reused = not rebuild and image is not None and builder_image is not None
    if reused:
        built = extract_built_site(engine, builder_tag, site, content_hash)
    else:
        labels = {
            **site.labels,
            CONTENT_LABEL: content_hash,
            "org.opencontainers.image.title": site.name,
            "org.opencontainers.image.created": datetime.now(UTC).isoformat(timespec="seconds"),
            "io.sitedeploy.version": __version__,
            "io.sitedeploy.builder-base": f"{builder_base.requested} {builder_base.image_id}",
            "io.sitedeploy.nginx-base": f"{nginx_base.requested} {nginx_base.image_id}",
            "io.sitedeploy.runtime": runtime.id,
            BASEURL_LABEL: requirements.baseurl,
            SITE_URL_LABEL: requirements.site_url,
        }
        if headers is not None:  # readable here; the Dockerfile carries the file as base64
            labels[HEADERS_LABEL] = json.dumps(headers)
        args = {"SITEDEPLOY_REBUILD": rebuild} if rebuild else {}
        with progress.step(f"Building {site.name} with Jekyll ({builder.name})"):
            request = BuildRequest(
                context, dockerfile, builder_tag, BUILDER_STAGE,
                {**labels, ROLE_LABEL: "builder"}, args,
            )  # fmt: skip
            output = _run_build(builder, request, site, progress)
            jekyll_step = output.step("jekyll build")
            if jekyll_step:
                warnings.extend(f"Jekyll: {w}" for w in jekyll_warnings(jekyll_step.lines))
        # The manifest Jekyll's stage wrote goes into the final image's labels; the full
        # `_site` comes out of the builder image while the nginx stage packs it.
        manifest = read_image_file(engine, builder_tag, "/site/manifest.tsv").decode()
        with ThreadPoolExecutor(max_workers=1) as background:
            extracting = background.submit(
                extract_built_site, engine, builder_tag, site, content_hash, into=extracted
            )
            with progress.step(f"Packing the nginx image {tag}"):
                final_labels = {
                    **labels,
                    ROLE_LABEL: "site",
                    **site_labels(parse_site_manifest(manifest)),
                    DOCKERFILE_LABEL: dockerfile,
                    **_base_labels(builder_base, nginx_base),
                }
                if headers_conf is not None:
                    with engine.errors(f"Reading the labels of {runtime.tag}"):
                        inherited = engine.client.images.get(runtime.tag).labels
                    final_labels.update(replace_file(inherited, SITE_CONF, headers_conf.encode()))
                request = BuildRequest(context, dockerfile, tag, FINAL_STAGE, final_labels, args)
                _run_build(builder, request, site, progress)
            built = extracting.result()
        image, builder_image = image_info(engine, tag), image_info(engine, builder_tag)
    assert image is not None and builder_image is not None
    if not rebuild:
        with engine.errors(f"Tagging {tag}"):
            engine.client.images.get(tag).tag(site.repository, "latest")
    return SiteImages(
        image=image,
        builder=builder_image,
        runtime=runtime,
        bases=(builder_base, nginx_base),
        content_hash=content_hash,
        built=built,
        baseurl=requirements.baseurl,
        site_url=requirements.site_url,
        dockerfile=dockerfile,
        builder_name=builder.name,
        reused=reused,
        seconds=time.monotonic() - started,
        warnings=tuple(warnings),
    )
