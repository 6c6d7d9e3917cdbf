"""The shared nginx runtime image: FROM scratch, built once per nginx base and CPU, used by
every site.

Three images come from `docker/runtime/Dockerfile.in`: `-build` (the Debian stage nginx is
taken from, kept for the engine's own CPU), `-tools` (the pack stage's precompressor and
the runtime's bill of materials) and the runtime itself, whose labels carry that bill.

The runtime for another CPU (`publish` for several platforms) is built the same way on
this engine, from that CPU's Debian packages unpacked, never run: its one layer holds
that CPU's files, while the engine files the image as its own CPU's. It is never run
here; ship/platform_index.py gives it its true platform when it composes that CPU's
image in the registry.
"""

from __future__ import annotations

import contextlib

from deployer.config import SiteConfig
from deployer.digests import inputs_hash
from deployer.engine import Engine, ImageInfo
from deployer.errors import BaseImageError, BuildFailed, EngineError, SitedeployError
from deployer.image.bases import BaseImage
from deployer.image.builders import Builder, BuildRequest, choose_builder, run_build
from deployer.image.context import scan_context
from deployer.image.dockerfile import render_runtime_dockerfile
from deployer.image.extract import read_image_file
from deployer.labels import Label, Role, runtime_companion, runtime_tag
from deployer.platforms import Platform
from deployer.progress import Progress
from deployer.provenance.sbom import (
    files_from_labels,
    parse_manifest,
    runtime_differences,
    runtime_labels,
)
from deployer.resources import docker_dir
from deployer.site import Site


def runtime_identity(engine: Engine, runtime: ImageInfo) -> str:
    """What a site's content hash names of its runtime: its tag (its recipe and nginx
    base) and its bill of materials (every file's sha256, package and version). That is
    the same wherever the runtime was built; its id differs with the build's time and the
    engine's image store."""
    image = engine.find_image(runtime.tag)
    labels = dict(image.labels or {}) if image is not None else {}
    return inputs_hash(runtime.tag, labels.get(Label.SBOM_FILES) or runtime.config_digest)


def ensure_runtime(
    engine: Engine,
    builder: Builder,
    nginx_base: BaseImage,
    site: Site,
    progress: Progress,
    target: Platform | None = None,
) -> tuple[ImageInfo, str]:
    """The runtime image for this base and CPU (the engine's own unless `target` names
    another; built if missing) and the tag of its `tools` image.

    The tools image is built first: it carries the runtime's bill of materials, which is
    stamped into the runtime image's labels (and so into every site image built on it).
    """
    native = engine.platform
    target = target or native
    dockerfile = render_runtime_dockerfile(
        nginx_base=nginx_base.reference, target=target, native=target == native
    )
    context = scan_context(docker_dir() / "runtime")
    tag = runtime_tag(inputs_hash(dockerfile, context.content_hash, nginx_base.image_id))
    tools = runtime_companion(tag, Role.RUNTIME_TOOLS)
    build_stage = runtime_companion(tag, Role.RUNTIME_BUILD)
    # The engine's own CPU's build stage is kept too (its dpkg knows where each file came
    # from); another CPU's, with its cross toolchain (350 MB), is not: nothing reads it.
    kept = [(Role.RUNTIME_BUILD, build_stage)] if target == native else []
    kept.append((Role.RUNTIME_TOOLS, tools))
    if all(engine.find_image(name) is not None for name in (tag, *(n for _, n in kept))):
        return engine.built(tag), tools
    for_cpu = "" if target == native else f" for {target.name}"
    with progress.step(f"Building the nginx runtime image {tag}{for_cpu}"):
        for role, name in kept:
            labels: dict[str, str] = {Label.ROLE: role, Label.TITLE: f"sitedeploy {role}"}
            run_build(
                builder, BuildRequest(context, dockerfile, name, role, labels), site, progress
            )
        manifest = read_image_file(engine, tools, "/runtime-sbom.tsv").decode()
        labels = {
            Label.ROLE: Role.RUNTIME,
            Label.TITLE: "sitedeploy nginx runtime",
            Label.PLATFORM: target.name,
            Label.RUNTIME_DOCKERFILE: dockerfile,
            **runtime_labels(parse_manifest(manifest)),
        }
        request = BuildRequest(context, dockerfile, tag, Role.RUNTIME, labels)
        run_build(builder, request, site, progress)
    return engine.built(tag), tools


def runtimes_for(
    engine: Engine,
    site: Site,
    config: SiteConfig,
    nginx_base: BaseImage,
    targets: list[Platform],
    progress: Progress,
) -> dict[Platform, ImageInfo]:
    """The runtime image of every CPU in `targets` but the engine's own (built once each)."""
    others = [target for target in targets if target != engine.platform]
    if not others:
        return {}
    builder = choose_builder(engine, config.engine)
    runtimes = {}
    for target in others:
        try:
            runtime, _ = ensure_runtime(engine, builder, nginx_base, site, progress, target)
        except (BuildFailed, BaseImageError, EngineError) as error:
            raise type(error)(
                f"{error.message}\n(That was the nginx runtime for {target.name}, made from "
                f"Debian's {target.debian_arch} packages. To publish for this engine's CPU "
                f'only, set [publish] platforms = ["{engine.platform.name}"] or pass '
                f"--platform {engine.platform.name}.)"
            ) from error
        runtimes[target] = runtime
    return runtimes


def rebuild_runtime(
    engine: Engine,
    config: SiteConfig,
    nginx_base: BaseImage,
    site: Site,
    target: Platform,
    token: str,
    progress: Progress,
) -> tuple[str, list[str]]:
    """Build `target`'s runtime files again with nothing cached and compare its bill of
    materials (every file's sha256, package, version) with the runtime in use:
    (its tag, the differences)."""
    builder = choose_builder(engine, config.engine)
    runtime, _ = ensure_runtime(engine, builder, nginx_base, site, progress, target)
    image = engine.find_image(runtime.tag)
    labels = dict(image.labels or {}) if image else {}
    recipe = labels.get(Label.RUNTIME_DOCKERFILE, "")
    stage = f"FROM {nginx_base.reference} AS nginx-build\n"
    busted = recipe.replace(stage, f"{stage}ARG SITEDEPLOY_REBUILD\n", 1)  # no cache from here
    if busted == recipe:  # a rebuild from the cache would prove nothing
        raise EngineError(
            f"The runtime {runtime.tag} carries no recipe with an nginx-build stage on "
            f"{nginx_base.reference}; remove it (`docker rmi {runtime.tag}`) and build again."
        )
    context = scan_context(docker_dir() / "runtime")
    tag = f"{runtime.tag}-verify-{token}"
    request = BuildRequest(
        context, busted, tag, Role.RUNTIME_TOOLS, {Label.ROLE: Role.RUNTIME_TOOLS},
        build_args={"SITEDEPLOY_REBUILD": token},
    )  # fmt: skip
    with progress.step(f"Rebuilding the {target.name} runtime's files from nothing cached"):
        run_build(builder, request, site, progress)
        try:
            rebuilt = parse_manifest(read_image_file(engine, tag, "/runtime-sbom.tsv").decode())
        finally:
            with contextlib.suppress(SitedeployError), engine.errors(f"Removing {tag}"):
                engine.client.images.remove(tag)
    return runtime.tag, runtime_differences(files_from_labels(labels), rebuilt)
