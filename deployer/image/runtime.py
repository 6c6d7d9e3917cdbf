"""The shared nginx runtime image: FROM scratch, built once per nginx base, used by every site.

Three images come from `docker/runtime/Dockerfile.in`: `-build` (the Debian stage nginx is
taken from; `inspect` asks its dpkg), `-tools` (the pack stage's precompressor and the
runtime's bill of materials) and the runtime itself, whose labels carry that bill.
"""

from __future__ import annotations

from deployer.digests import inputs_hash
from deployer.engine import Engine, ImageInfo
from deployer.image.bases import BaseImage
from deployer.image.builders import Builder, BuildRequest, run_build
from deployer.image.context import scan_context
from deployer.image.dockerfile import render_runtime_dockerfile
from deployer.image.extract import read_image_file
from deployer.labels import Label, Role, runtime_companion, runtime_tag
from deployer.progress import Progress
from deployer.provenance.sbom import parse_manifest, runtime_labels
from deployer.resources import docker_dir
from deployer.site import Site


def ensure_runtime(
    engine: Engine, builder: Builder, nginx_base: BaseImage, site: Site, progress: Progress
) -> tuple[ImageInfo, str]:
    """The runtime image for this base (built if missing) and the tag of its `tools` image.

    The tools image is built first: it carries the runtime's bill of materials, which is
    stamped into the runtime image's labels (and so into every site image built on it).
    """
    dockerfile = render_runtime_dockerfile(nginx_base=nginx_base.reference)
    context = scan_context(docker_dir() / "runtime")
    tag = runtime_tag(inputs_hash(dockerfile, context.content_hash, nginx_base.image_id))
    tools = runtime_companion(tag, Role.RUNTIME_TOOLS)
    build_stage = runtime_companion(tag, Role.RUNTIME_BUILD)
    existing = engine.image_info(tag)
    if existing and engine.image_info(tools) and engine.image_info(build_stage):
        return existing, tools
    with progress.step(f"Building the nginx runtime image {tag}"):
        # The build stage is kept too: `inspect` asks its dpkg where each file came from.
        for role, name in ((Role.RUNTIME_BUILD, build_stage), (Role.RUNTIME_TOOLS, tools)):
            labels: dict[str, str] = {Label.ROLE: role, Label.TITLE: f"sitedeploy {role}"}
            run_build(
                builder, BuildRequest(context, dockerfile, name, role, labels), site, progress
            )
        manifest = read_image_file(engine, tools, "/runtime-sbom.tsv").decode()
        labels = {
            Label.ROLE: Role.RUNTIME,
            Label.TITLE: "sitedeploy nginx runtime",
            Label.RUNTIME_DOCKERFILE: dockerfile,
            **runtime_labels(parse_manifest(manifest)),
        }
        request = BuildRequest(context, dockerfile, tag, Role.RUNTIME, labels)
        run_build(builder, request, site, progress)
    return engine.built(tag), tools
