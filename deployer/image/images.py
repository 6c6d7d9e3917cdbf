"""`sitedeploy build`: from a site folder to its images.

Steps, in order (`build_site`): read what the site needs (gems, plugins → Debian packages,
the build context), resolve the base images and the shared nginx runtime, render the
site's Dockerfile (image/dockerfile.py) — together the build's `_Plan` — then build the
builder stage and the final nginx image (image/stages.py), deriving the site's own nginx
files from the built pages in between.

Images are tagged by a content hash of every build input (site files, rendered Dockerfile,
base and runtime image ids, sitedeploy's version): the same inputs give the same tag, and a
tag that already exists is reused without building.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from rich.filesize import decimal

from deployer import __version__
from deployer.built_site import BuiltSite
from deployer.config import SiteConfig
from deployer.digests import inputs_hash
from deployer.engine import Engine, ImageInfo, Layer
from deployer.errors import DiskFull
from deployer.headers import site_headers
from deployer.image.bases import BaseImage, present_or_pulled, resolve_base
from deployer.image.before import npm_warning, unrun_npm_build
from deployer.image.builders import Builder, choose_builder
from deployer.image.conf_image import conf_image
from deployer.image.context import BuildContext, left_out_text, needed_ignores, scan_context
from deployer.image.diagnose import BuildSetting, explain
from deployer.image.dockerfile import OVERRIDES_FILE, SiteRecipe, render_site_dockerfile
from deployer.image.extract import extract_built_site
from deployer.image.fidelity import debian_differences, fallback_line
from deployer.image.gems import GemsPlan, GemsWay, plan_gems, ruby_image, written_gemfile
from deployer.image.plugins import JekyllRequirements, read_requirements
from deployer.image.runtime import ensure_runtime, runtime_identity
from deployer.image.secrets import build_secrets
from deployer.image.site_csp import site_policy
from deployer.image.site_nginx import site_nginx_files
from deployer.image.stages import FinalStage, SiteBuild
from deployer.labels import BOOTSTRAP_KEYS, LATEST, BaseStage, Label, base, content_tag
from deployer.progress import Progress
from deployer.provenance.sbom import BuiltGem, gems_from_labels, replace_file
from deployer.redirects import (
    Redirect,
    redirects_from_label,
    redirects_label,
    site_redirects,
)
from deployer.site import Site


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
    redirects: tuple[Redirect, ...] = ()  # what the image answers with a redirect itself
    fallback: str | None = None  # how the Debian way's gems differ from the site's own

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
    root = engine.kind.data_root
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


@dataclass(frozen=True)
class _Plan:
    """Everything a site build is decided by, before anything is built."""

    site: Site
    config: SiteConfig
    gems: GemsPlan
    requirements: JekyllRequirements
    context: BuildContext
    kept_ignores: tuple[str, ...]
    builder: Builder
    bases: tuple[BaseImage, BaseImage]  # the builder stage's, nginx's
    runtime: ImageInfo
    recipe: SiteRecipe
    dockerfile: str
    content_hash: str
    npm_build: str | None
    warnings: tuple[str, ...]


def _builder_base(
    engine: Engine, config: SiteConfig, gems: GemsPlan, progress: Progress
) -> tuple[BaseImage, bool, str | None]:
    """The Jekyll stage's base, whether its Ruby comes from Debian, and a warning: for
    Bundler the official Ruby image (the one the lock asks for) when it is here or
    pullable, else — like every offline build — the Debian base with Debian's Ruby."""
    warning = None
    if gems.way is GemsWay.BUNDLER:
        wanted = config.ruby_image or ruby_image(gems.ruby)
        found, why = present_or_pulled(engine, wanted, progress)
        if found is not None:
            return found, False, None
        warning = (
            f"{wanted} is not here and could not be pulled ({why}); Bundler runs on "
            f"Debian's Ruby on {config.builder_image} instead."
        )
    base_image = resolve_base(engine, config.builder_image, config.debian_mirror, progress)
    return base_image, True, warning


def _plan(engine: Engine, site: Site, config: SiteConfig, progress: Progress) -> _Plan:
    """Read what the site needs, resolve the bases and runtime, render the Dockerfile."""
    gems = plan_gems(site.path, config.gems, config.gem_mirror)
    progress.info(gems.reason)
    bundler = gems.way is GemsWay.BUNDLER
    requirements = read_requirements(
        site.path, config.jekyll_config, config.packages, config.skip_plugins, offline=not bundler
    )
    kept = needed_ignores(site.path, requirements.settings, bundler=bundler)
    if progress.verbose:
        progress.info(left_out_text(site.path, kept))
    context = scan_context(site.path, keep=tuple(kept))
    check_disk_space(engine, context.total_bytes)
    builder = choose_builder(engine, config.engine)
    npm_build = unrun_npm_build(site.path, config)
    with progress.step("Resolving base images"):
        builder_base, ruby_from_debian, ruby_warning = _builder_base(engine, config, gems, progress)
        nginx_base = resolve_base(engine, config.nginx_image, config.debian_mirror, progress)
    runtime, tools = ensure_runtime(engine, builder, nginx_base, site, progress)
    recipe = SiteRecipe(
        site_name=site.name, site_id=site.id, builder_base=builder_base.reference,
        runtime_image=runtime.tag, tools_image=tools, requirements=requirements,
        buildkit=builder.name.startswith("BuildKit"), gems=gems,
        ruby_from_debian=ruby_from_debian, before=config.before,
        gemfile=(
            written_gemfile(gems.source or "", requirements.theme, requirements.plugins)
            if gems.written
            else None
        ),
    )  # fmt: skip
    dockerfile = render_site_dockerfile(recipe)
    # The site's own nginx files come from its [headers] and [csp] and its built pages.
    nginx_settings = repr((config.headers, config.csp))
    content_hash = inputs_hash(
        __version__, context.content_hash, dockerfile, builder_base.image_id,
        runtime_identity(engine, runtime), nginx_settings,
    )  # fmt: skip
    warnings = (
        *requirements.warnings, *context.warnings,
        *([npm_warning(npm_build)] if npm_build else []),
        *([ruby_warning] if ruby_warning else []),
    )  # fmt: skip
    return _Plan(
        site, config, gems, requirements, context, tuple(kept), builder,
        (builder_base, nginx_base), runtime, recipe, dockerfile, content_hash, npm_build,
        warnings,
    )  # fmt: skip


def _labels(plan: _Plan) -> dict[str, str]:
    """The labels both the builder and the nginx image carry."""
    requirements = plan.requirements
    labels = {
        **plan.site.labels,
        Label.CONTENT_HASH: plan.content_hash,
        Label.TITLE: plan.site.name,
        Label.CREATED: datetime.now(UTC).isoformat(timespec="seconds"),
        Label.VERSION: __version__,
        Label.RUNTIME: plan.runtime.config_digest,
        Label.BASEURL: requirements.baseurl,
        Label.SITE_URL: requirements.site_url,
        Label.GEMS_WAY: str(plan.gems.way),
        **{
            base(stage): f"{b.requested} {b.image_id}"
            for stage, b in zip((BaseStage.BUILDER, BaseStage.NGINX), plan.bases, strict=True)
        },
    }
    if plan.config.headers:
        labels[Label.HEADERS] = json.dumps(site_headers(plan.config.headers))
    return labels


def _final_stage(engine: Engine, plan: _Plan, built: BuiltSite) -> FinalStage:
    """The nginx stage, once the pages are built: the site's own nginx files (its policy
    is derived from the pages) and the labels only the nginx image carries."""
    requirements, config = plan.requirements, plan.config
    policy = site_policy(config, built, requirements.baseurl, requirements.site_url)
    redirects = site_redirects(built, requirements.baseurl, requirements.site_url)
    files, skipped = site_nginx_files(config, policy, redirects)
    warnings = (
        (
            f"CSP: {len(skipped)} pages keep the default policy (nginx cannot name "
            f"their paths literally), e.g. {skipped[0]}",
        )
        if skipped
        else ()
    )
    labels = {
        **_base_details(*plan.bases),
        Label.CSP: policy.label(),
        Label.REDIRECTS: redirects_label(redirects),
    }
    if files:  # the bill of materials names the files the image really has
        runtime = engine.find_image(plan.runtime.tag)
        sbom = dict(runtime.labels if runtime else {})
        for path, text in files.items():
            sbom = {**sbom, **replace_file(sbom, path, text.encode("utf-8"))}
        labels[Label.SBOM_FILES] = sbom[Label.SBOM_FILES]
    conf = conf_image(engine, plan.site, files) if files else None
    return FinalStage(render_site_dockerfile(plan.recipe, conf), labels, warnings)


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
    plan = _plan(engine, site, config, progress)
    job = SiteBuild(
        engine, site, plan.builder, plan.context, plan.dockerfile, plan.content_hash, progress,
        suffix=f"verify-{rebuild}" if rebuild else content_tag(plan.content_hash),
        rebuild=rebuild, network_host=plan.gems.network_host,
        explain_jekyll=partial(explain, BuildSetting(
            site.path, plan.requirements.config_files, plan.requirements.plugins_dir,
            debian=plan.gems.way is GemsWay.DEBIAN, named=_named_gems(plan),
        )),
    )  # fmt: skip
    warnings = list(plan.warnings)
    dockerfile = plan.dockerfile
    present = [engine.find_image(tag) is not None for tag in (job.tag, job.builder_tag)]
    reused = not rebuild and all(present)
    if reused:
        built = extract_built_site(engine, job.builder_tag, site, plan.content_hash)
    else:
        with build_secrets(config, plan.gems) as secrets:
            made = replace(job, secrets=secrets).run(
                _labels(plan), lambda pages: _final_stage(engine, plan, pages)
            )
        built, dockerfile = made.site, made.final.dockerfile
        warnings.extend([*made.final.warnings, *(f"Jekyll: {w}" for w in made.jekyll_warnings)])
    image, builder_image = engine.built(job.tag), engine.built(job.builder_tag)
    final = engine.find_image(job.tag)
    final_labels = dict(final.labels or {}) if final else {}
    gems_used = tuple(gems_from_labels(final_labels))
    fallback = _fallback(plan, gems_used)
    if fallback:
        warnings.insert(0, fallback)
    if not rebuild and final is not None:
        with engine.errors(f"Tagging {job.tag}"):
            final.tag(site.repository, LATEST)
    return SiteImages(
        image=image,
        builder=builder_image,
        runtime=plan.runtime,
        bases=plan.bases,
        content_hash=plan.content_hash,
        built=built,
        baseurl=plan.requirements.baseurl,
        site_url=plan.requirements.site_url,
        dockerfile=dockerfile,
        builder_name=plan.builder.name,
        reused=reused,
        seconds=time.monotonic() - started,
        warnings=tuple(warnings),
        layers=tuple(engine.history(job.tag)),
        gems=plan.gems,
        gems_used=gems_used,
        npm_build=plan.npm_build,
        csp=json.loads(final_labels.get(Label.CSP) or "{}"),
        jekyll_configs=",".join([*plan.requirements.config_files, OVERRIDES_FILE]),
        kept_ignores=plan.kept_ignores,
        redirects=redirects_from_label(final_labels.get(Label.REDIRECTS)),
        fallback=fallback,
    )


def _fallback(plan: _Plan, gems_used: tuple[BuiltGem, ...]) -> str | None:
    """The Debian way against the site's own gems (its lock, its Gemfile): one line."""
    if plan.gems.way is not GemsWay.DEBIAN:
        return None
    debian = {gem.name: gem.version for gem in gems_used if gem.origin == "debian"}
    return fallback_line(debian_differences(plan.site.path, debian, _named_gems(plan)))


def _named_gems(plan: _Plan) -> tuple[str, ...]:
    theme = plan.requirements.theme
    return (*plan.requirements.plugins, *([theme] if theme else []))
