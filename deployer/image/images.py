"""`sitedeploy build`: from a site folder to its images.

Stages, in order: read what the site needs (plugins → Debian packages), scan the build
context, resolve the base images, make sure the shared nginx runtime image exists, render
the site's Dockerfile, then build the builder stage and the final nginx image.

Images are tagged by a content hash of every build input (site files, rendered Dockerfile,
base and runtime image ids, sitedeploy's version): the same inputs give the same tag, and a
tag that already exists is reused without building.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from rich.filesize import decimal

from deployer import __version__
from deployer.built_site import BuiltSite
from deployer.config import SiteConfig
from deployer.digests import inputs_hash
from deployer.engine import Engine, ImageInfo, Layer
from deployer.errors import DiskFull, SitedeployError
from deployer.headers import site_headers
from deployer.image.bases import BaseImage, present_or_pulled, resolve_base
from deployer.image.before import npm_warning, unrun_npm_build
from deployer.image.builders import (
    Builder,
    BuildKitCLI,
    BuildOutput,
    BuildRequest,
    choose_builder,
    run_build,
)
from deployer.image.conf_image import conf_image
from deployer.image.context import BuildContext, left_out_text, needed_ignores, scan_context
from deployer.image.dockerfile import (
    BUILDER_STAGE,
    FINAL_STAGE,
    OVERRIDES_FILE,
    PACK_STAGE,
    render_site_dockerfile,
)
from deployer.image.extract import extract_built_site, read_image_file
from deployer.image.gems import GemsPlan, GemsWay, plan_gems, ruby_image
from deployer.image.jekyll_log import jekyll_warnings
from deployer.image.plugins import read_requirements
from deployer.image.runtime import ensure_runtime
from deployer.image.secrets import build_secrets
from deployer.image.site_csp import site_nginx_files, site_policy
from deployer.labels import BOOTSTRAP_KEYS, BaseStage, Label, Role, base, content_tag
from deployer.labels import LATEST as LATEST_TAG
from deployer.progress import Progress
from deployer.provenance.sbom import (
    BuiltGem,
    gem_labels,
    gems_from_labels,
    parse_gems,
    parse_site_manifest,
    replace_file,
    site_labels,
)
from deployer.site import Site, builder_tag, image_tag


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
    layers: tuple[Layer, ...] = field(default=())  # the final image's history, oldest first
    gems: GemsPlan | None = None  # the way the gems came, and why
    gems_used: tuple[BuiltGem, ...] = ()  # every gem the build used, and where it came from
    npm_build: str | None = None  # package.json's build script, when nothing runs it
    csp: dict[str, Any] = field(default_factory=dict)  # the policy sent (SitePolicy.as_dict)
    jekyll_configs: str = ""  # `jekyll build --config`, as the builder ran it
    kept_ignores: tuple[str, ...] = ()  # default ignores the build context kept

    @property
    def csp_summary(self) -> str:
        return str(self.csp.get("summary", ""))

    @property
    def size_ratio(self) -> float | None:
        """The final image's size as a fraction of the builder's."""
        return self.image.size / self.builder.size if self.builder.size else None


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


def _base_details(builder_base: BaseImage, nginx_base: BaseImage) -> dict[str, str]:
    """Where each stage's base came from: pulled (with its digest) or bootstrapped here."""
    labels = {}
    for stage, image in ((BaseStage.BUILDER, builder_base), (BaseStage.NGINX, nginx_base)):
        labels[base(stage, "origin")] = image.origin.value
        labels[base(stage, "reference")] = image.reference
        if image.repo_digest:
            labels[base(stage, "digest")] = image.repo_digest
        for key, short in BOOTSTRAP_KEYS.items():
            if key in image.labels:
                labels[base(stage, short)] = image.labels[key]
    return labels


def _builder_base(
    engine: Engine, config: SiteConfig, plan: GemsPlan, progress: Progress, warnings: list[str]
) -> tuple[BaseImage, bool]:
    """The Jekyll stage's base, and whether its Ruby comes from Debian: for Bundler the
    official Ruby image (the one the lock asks for) when it is here or pullable, else —
    like every offline build — the Debian base with Debian's Ruby."""
    if plan.way is GemsWay.BUNDLER:
        wanted = config.ruby_image or ruby_image(plan.ruby)
        found, why = present_or_pulled(engine, wanted, progress)
        if found is not None:
            return found, False
        warnings.append(
            f"{wanted} is not here and could not be pulled ({why}); Bundler runs on "
            f"Debian's Ruby on {config.builder_image} instead."
        )
    return resolve_base(engine, config.builder_image, config.debian_mirror, progress), True


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
    plan = plan_gems(site.path, config.gems, config.gem_mirror)
    progress.info(plan.reason)
    bundler = plan.way is GemsWay.BUNDLER
    requirements = read_requirements(
        site.path, config.jekyll_config, config.packages, config.skip_plugins, offline=not bundler
    )
    needed = needed_ignores(site.path, requirements.settings, bundler=bundler)
    if progress.verbose:
        progress.info(left_out_text(site.path, needed))
    context = scan_context(site.path, keep=tuple(needed))
    check_disk_space(engine, context.total_bytes)
    builder = choose_builder(engine, config.engine)
    npm_build = unrun_npm_build(site.path, config)
    npm = [npm_warning(npm_build)] if npm_build else []
    warnings = [*requirements.warnings, *context.warnings, *npm]

    with progress.step("Resolving base images"):
        builder_base, ruby_from_debian = _builder_base(engine, config, plan, progress, warnings)
        nginx_base = resolve_base(engine, config.nginx_image, config.debian_mirror, progress)
    runtime, tools = ensure_runtime(engine, builder, nginx_base, site, progress)

    def render(site_conf_image: str | None = None) -> str:
        return render_site_dockerfile(
            site_name=site.name,
            site_id=site.id,
            builder_base=builder_base.reference,
            runtime_image=runtime.tag,
            tools_image=tools,
            requirements=requirements,
            buildkit=builder.name.startswith("BuildKit"),
            gems=plan,
            ruby_from_debian=ruby_from_debian,
            before=config.before,
            site_conf_image=site_conf_image,
        )

    dockerfile = render()
    # The site's own nginx files come from its [headers] and [csp] and its built pages.
    nginx_settings = repr((config.headers, config.csp))
    content_hash = inputs_hash(
        __version__, context.content_hash, dockerfile, builder_base.image_id, runtime.id,
        nginx_settings,
    )  # fmt: skip
    job = _Job(
        engine, site, builder, context, dockerfile, content_hash, progress,
        suffix=f"verify-{rebuild}" if rebuild else content_tag(content_hash),
        rebuild=rebuild, network_host=plan.network_host,
    )  # fmt: skip
    stages = ((BaseStage.BUILDER, builder_base), (BaseStage.NGINX, nginx_base))
    image, builder_image = engine.image_info(job.tag), engine.image_info(job.builder_tag)
    reused = not rebuild and image is not None and builder_image is not None
    if reused:
        built = extract_built_site(engine, job.builder_tag, site, content_hash)
    else:
        labels = {
            **site.labels,
            Label.CONTENT_HASH: content_hash,
            Label.TITLE: site.name,
            Label.CREATED: datetime.now(UTC).isoformat(timespec="seconds"),
            Label.VERSION: __version__,
            Label.RUNTIME: runtime.id,
            Label.BASEURL: requirements.baseurl,
            Label.SITE_URL: requirements.site_url,
            Label.GEMS_WAY: str(plan.way),
            **{base(stage): f"{b.requested} {b.image_id}" for stage, b in stages},
        }
        if config.headers:
            labels[Label.HEADERS] = json.dumps(site_headers(config.headers))
        inherited = engine.find_image(runtime.tag)
        runtime_labels = dict(inherited.labels if inherited else {})

        def finish(built: BuiltSite) -> tuple[str, dict[str, str]]:
            """The final stage, once the pages are built: the site's own nginx files
            (its policy is derived from the pages) and the labels only it carries."""
            policy = site_policy(config, built, requirements.baseurl, requirements.site_url)
            files, skipped = site_nginx_files(config, policy)
            if skipped:
                warnings.append(
                    f"CSP: {len(skipped)} pages keep the default policy (nginx cannot name "
                    f"their paths literally), e.g. {skipped[0]}"
                )
            final_only = {**_base_details(builder_base, nginx_base), Label.CSP: policy.label()}
            sbom = runtime_labels
            for path, text in files.items():
                sbom = {**sbom, **replace_file(sbom, path, text.encode("utf-8"))}
            if files:  # the bill of materials names the files the image really has
                final_only[Label.SBOM_FILES] = sbom[Label.SBOM_FILES]
            return render(conf_image(engine, site, files) if files else None), final_only

        with build_secrets(config, plan) as secrets:
            built, jekyll_warned, dockerfile = replace(job, secrets=secrets).run(labels, finish)
        warnings.extend(f"Jekyll: {w}" for w in jekyll_warned)
        image, builder_image = engine.image_info(job.tag), engine.image_info(job.builder_tag)
    assert image is not None and builder_image is not None
    final = engine.find_image(job.tag)
    if not rebuild and final is not None:
        with engine.errors(f"Tagging {job.tag}"):
            final.tag(site.repository, LATEST_TAG)
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
        layers=tuple(engine.history(job.tag)),
        gems=plan,
        gems_used=tuple(gems_from_labels(dict(final.labels or {}))) if final else (),
        npm_build=npm_build,
        csp=json.loads(final.labels.get(Label.CSP) or "{}") if final else {},
        jekyll_configs=",".join([*requirements.config_files, OVERRIDES_FILE]),
        kept_ignores=tuple(needed),
    )


@dataclass
class _Job:
    """One site build: the Jekyll stage; then the pack stage while `_site` is copied out
    and the site's nginx files are derived from it; then the nginx stage."""

    engine: Engine
    site: Site
    builder: Builder
    context: BuildContext
    dockerfile: str
    content_hash: str
    progress: Progress
    suffix: str
    rebuild: str | None
    network_host: bool = False
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return image_tag(self.site, self.suffix)

    @property
    def builder_tag(self) -> str:
        return builder_tag(self.site, self.suffix)

    def run(
        self, labels: dict[str, str], finish: Callable[[BuiltSite], tuple[str, dict[str, str]]]
    ) -> tuple[BuiltSite, list[str], str]:
        """Build both images (`labels` on both; `finish`, given the built `_site`, says the
        final Dockerfile and the labels only the nginx image carries); return the built
        `_site`, Jekyll's warnings and the final Dockerfile."""
        site, progress = self.site, self.progress
        args = {"SITEDEPLOY_REBUILD": self.rebuild} if self.rebuild else {}
        with progress.step(f"Building {site.name} with Jekyll ({self.builder.name})"):
            request = BuildRequest(
                self.context, self.dockerfile, self.builder_tag, BUILDER_STAGE,
                {**labels, Label.ROLE: Role.BUILDER}, args, self.network_host,
                self.secrets,
            )  # fmt: skip
            output = run_build(self.builder, request, site, progress)
            jekyll_step = output.step("jekyll build")
            warnings = jekyll_warnings(jekyll_step.lines) if jekyll_step else []
        with self._packing(args) as packed:
            # The manifest Jekyll's stage wrote goes into the final image's labels; the
            # full `_site` comes out of the builder image: the final stage's nginx files
            # (its Content-Security-Policy) are derived from the pages.
            manifest = read_image_file(self.engine, self.builder_tag, "/site/manifest.tsv")
            gems = read_image_file(self.engine, self.builder_tag, "/site/gems.tsv")
            into = f"verify-{self.rebuild}" if self.rebuild else "_site"
            built = extract_built_site(
                self.engine, self.builder_tag, site, self.content_hash, into=into
            )
            dockerfile, final_only = finish(built)
            pack_lines = packed()
            with progress.step(f"Packing the nginx image {self.tag}"):
                for line in pack_lines:
                    progress.detail(line)
                final_labels = {
                    **labels,
                    **final_only,
                    Label.ROLE: Role.SITE,
                    **site_labels(parse_site_manifest(manifest.decode())),
                    **gem_labels(parse_gems(gems.decode())),
                    Label.DOCKERFILE: dockerfile,
                }
                # The same network as the builder build, or BuildKit would not reuse it.
                request = BuildRequest(
                    self.context, dockerfile, self.tag, FINAL_STAGE, final_labels, args,
                    self.network_host, self.secrets,
                )  # fmt: skip
                run_build(self.builder, request, site, progress)
        return built, warnings, dockerfile

    @contextlib.contextmanager
    def _packing(self, args: dict[str, str]) -> Iterator[Callable[[], tuple[str, ...]]]:
        """With BuildKit, the pack stage (precompressing the site) is built beside what the
        block does — reading `_site` out — so the final build finds it in its cache. Yields
        a call that waits for it and returns what pack.rb said (shown with --verbose). With
        the classic builder the final build packs, as before (not measured beside it)."""
        if not isinstance(self.builder, BuildKitCLI):
            yield lambda: ()
            return
        request = BuildRequest(
            self.context, self.dockerfile, None, PACK_STAGE, {}, args, self.network_host,
            self.secrets,
        )  # fmt: skip
        with ThreadPoolExecutor(max_workers=1) as pool:
            packing = pool.submit(self.builder.build, request, Progress(quiet=True))

            def outcome() -> BuildOutput | None:
                """None on a failure: that is the final build's to report."""
                try:
                    return packing.result()
                except Exception:
                    return None

            def said() -> tuple[str, ...]:
                output = outcome()
                step = output.step("pack.rb") if output else None
                return tuple(step.lines) if step else ()

            try:
                yield said
            finally:  # the untagged image goes (its layers stay in BuildKit's cache)
                output = outcome()
                if output and output.image_id:
                    with contextlib.suppress(SitedeployError), self.engine.errors("Pruning"):
                        self.engine.client.images.remove(output.image_id)
