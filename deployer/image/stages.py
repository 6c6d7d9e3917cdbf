"""The site's Dockerfile built stage by stage: the Jekyll stage; then the pack stage
(with BuildKit, beside reading `_site` out, so the final build finds it cached) while the
site's own nginx files are derived from the pages; then the nginx stage.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from deployer.built_site import BuiltSite
from deployer.engine import Engine
from deployer.errors import SitedeployError
from deployer.image.build_log import BuildOutput
from deployer.image.builders import Builder, BuildKitCLI, BuildRequest, run_build
from deployer.image.context import BuildContext
from deployer.image.dockerfile import BUILDER_STAGE, FINAL_STAGE, PACK_STAGE
from deployer.image.extract import extract_build
from deployer.image.jekyll_log import jekyll_warnings
from deployer.labels import Label, Role
from deployer.progress import Progress
from deployer.provenance.sbom import gem_labels, parse_gems, site_labels
from deployer.site import Site, builder_tag, image_tag

GEMS_IN_IMAGE = "/site/gems.tsv"  # what the Jekyll stage used: name, version, where from


@dataclass(frozen=True)
class FinalStage:
    """What the nginx stage needs once the pages are built: its Dockerfile (with the
    site's own nginx files), the labels only it carries, and what to warn about."""

    dockerfile: str
    labels: dict[str, str]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Built:
    """What a site build made: the built `_site`, Jekyll's warnings, the final stage."""

    site: BuiltSite
    jekyll_warnings: tuple[str, ...]
    final: FinalStage


@dataclass
class SiteBuild:
    """One site build: its images' tags, the context and Dockerfile, how to build."""

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
    explain_jekyll: Callable[[str, list[str]], str] | None = None

    @property
    def tag(self) -> str:
        return image_tag(self.site, self.suffix)

    @property
    def builder_tag(self) -> str:
        return builder_tag(self.site, self.suffix)

    def run(self, labels: dict[str, str], finish: Callable[[BuiltSite], FinalStage]) -> Built:
        """Build both images (`labels` on both; `finish`, given the built `_site`, says the
        final stage)."""
        site, progress = self.site, self.progress
        args = {"SITEDEPLOY_REBUILD": self.rebuild} if self.rebuild else {}
        with progress.step(f"Building {site.name} with Jekyll ({self.builder.name})"):
            request = BuildRequest(
                self.context, self.dockerfile, self.builder_tag, BUILDER_STAGE,
                {**labels, Label.ROLE: Role.BUILDER}, args, self.network_host,
                self.secrets, self.explain_jekyll,
            )  # fmt: skip
            output = run_build(self.builder, request, site, progress)
            self.engine.read_soon(self.builder_tag)  # its size, read beside what follows
            jekyll_step = output.step("jekyll build")
            warnings = jekyll_warnings(jekyll_step.lines) if jekyll_step else []
        with self._packing(args) as packed:
            # The full `_site` comes out of the builder image (the final stage's nginx
            # files, its Content-Security-Policy, are derived from the pages), and the gems
            # the Jekyll stage used, for the final image's labels.
            into = f"verify-{self.rebuild}" if self.rebuild else "_site"
            built, read = extract_build(
                self.engine, self.builder_tag, site, self.content_hash, into=into,
                files=(GEMS_IN_IMAGE,),
            )  # fmt: skip
            final = finish(built)
            pack_lines = packed()
            with progress.step(f"Packing the nginx image {self.tag}"):
                for line in pack_lines:
                    progress.detail(line)
                final_labels = {
                    **labels,
                    **final.labels,
                    Label.ROLE: Role.SITE,
                    **site_labels(list(built.files)),
                    **gem_labels(parse_gems(read[GEMS_IN_IMAGE].decode())),
                    Label.DOCKERFILE: final.dockerfile,
                }
                # The same network as the builder build, or BuildKit would not reuse it.
                request = BuildRequest(
                    self.context, final.dockerfile, self.tag, FINAL_STAGE, final_labels, args,
                    self.network_host, self.secrets,
                )  # fmt: skip
                run_build(self.builder, request, site, progress)
        return Built(built, tuple(warnings), final)

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
