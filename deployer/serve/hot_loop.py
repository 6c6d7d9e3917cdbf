"""The hot loop of `up --watch`: each save served as small layers over the running image.

Jekyll is kept warm in a builder container (serve/hot.py). A save is regenerated there:
the edited pages first when they can go first, served at once; then the whole site, and
what its regeneration changed beyond them. Each version is the serving image plus a
committed layer of the changed files (and csp.conf when a page's policy changed), checked
where it changed before the switch (serve/switch.py) and in full, in the background, after.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from deployer.check.findings import CheckReport
from deployer.check.served import check_changed, check_site
from deployer.config import SiteConfig
from deployer.csp.derive import PageMemo
from deployer.engine import Engine, ImageInfo
from deployer.errors import SitedeployError
from deployer.headers import SITE_CSP_CONF, render_csp_conf, strict_policy
from deployer.image.images import SiteImages
from deployer.image.site_csp import site_policy
from deployer.image.site_nginx import site_nginx_files
from deployer.labels import Label
from deployer.progress import Progress
from deployer.redirects import (
    SITE_REDIRECTS_CONF,
    redirects_label,
    render_redirects_conf,
    site_redirects,
)
from deployer.serve.front import serving_now
from deployer.serve.hot import (
    CLEAN_EVERY,
    HotBuilder,
    HotEdit,
    NotHot,
    layered_image,
    start_hot_site,
    updated_site,
)
from deployer.serve.lock import site_lock
from deployer.serve.switch import UpResult, serve_image
from deployer.site import Site


class HotLoop:
    """The hot builder of the last full build, and the edits laid over its image."""

    def __init__(
        self, engine: Engine, site: Site, config: SiteConfig, progress: Progress, strict: bool
    ) -> None:
        self.engine, self.site, self.config, self.progress = engine, site, config, progress
        self.strict = strict
        self.builder: HotBuilder | None = None
        self.images: SiteImages | None = None
        self.nginx_files: dict[str, str] = {}
        self.policies: PageMemo = {}  # each page's derived policy, by its HTML
        self.edits = 0
        self.full_check: threading.Thread | None = None
        self.versions = 0  # versions served so far: a full check of an older one is moot
        # The hot builder's files ran ahead of the preview (a version failed its check):
        # only a full build brings them together again.
        self.behind = False

    def after_full(self, result: UpResult) -> None:
        """A full `up` served `result`: the next edits start from its builder image."""
        self.close()
        self.images = replace(result.images, built=start_hot_site(self.site, result.built))
        self.policies = {}
        policy = site_policy(
            self.config, self.images.built, self.images.baseurl, self.images.site_url,
            self.policies,
        )  # fmt: skip
        self.nginx_files = site_nginx_files(self.config, policy, self.images.redirects)[0]
        self.builder = HotBuilder.start(self.engine, self.site, result.images)
        self.edits = 0
        self.versions += 1
        self.behind = False

    def deploy(self, changed_at: float, served: Callable[[UpResult], None]) -> UpResult | None:
        """Serve the saved changes as edit layers: the edited pages first when they can go
        first (`served` gets that result), then the whole site regenerated. Returns the
        last version served for the save, None when nothing the site serves changed.
        Raises NotHot when only a full `up` can take the changes."""
        if self.builder is None or self.images is None:
            raise NotHot("no hot builder yet")
        if self.edits >= CLEAN_EVERY:
            raise NotHot(f"{CLEAN_EVERY} edit layers since the last full build: building afresh")
        if self.behind:
            raise NotHot("the last edit was not served: the site is built afresh")
        with self.progress.step("Regenerating with Jekyll (kept warm)"):
            self.builder.ready()
            sources = self.builder.sync()
            if not sources:
                return None  # saved as it was: nothing to do
            first = self.builder.regenerate(sources)
        result, went_first = None, False
        if isinstance(first, str):
            self.progress.detail(f"The whole site regenerates first: {first}.")
        elif first.changed:
            self.progress.info(
                f"Jekyll rendered the edited pages in {first.jekyll_seconds:.2f} s; "
                "serving them while the whole site regenerates."
            )
            result = replace(self._serve(first, changed_at), edited_only=True)
            served(result)
            went_first = True
        with self.progress.step("Regenerating the whole site with Jekyll"):
            edit = self.builder.whole()
        self.progress.info(
            f"Jekyll regenerated in {edit.jekyll_seconds:.2f} s; {len(edit.changed)} files "
            f"changed, found and precompressed in {edit.seconds - edit.jekyll_seconds:.2f} s"
        )
        if edit.changed:
            result = self._serve(edit, changed_at)
        if result is None:
            self.progress.info("Saved; nothing the site serves changed.")
            return None
        others = f"{len(edit.changed)} {'more ' if went_first else ''}files changed"
        self.progress.info(
            f"Whole site regenerated and served {time.monotonic() - changed_at:.1f} s after "
            f"the save ({others if edit.changed else 'nothing else changed'})."
        )
        self._check_everything(result)
        return None if result.edited_only else result

    def _serve(self, edit: HotEdit, changed_at: float) -> UpResult:
        """Lay `edit` over the serving image, check what changed, and switch to it."""
        if self.images is None:
            raise NotHot("no hot builder yet")
        try:
            return self._switch(self.images, edit, changed_at)
        except BaseException:
            self.behind = True  # the builder has these files; the preview does not
            raise

    def _switch(self, images: SiteImages, edit: HotEdit, changed_at: float) -> UpResult:
        built = updated_site(images.built, edit.changed)
        if any(path.endswith(".css") for path in edit.changed):
            self.policies.clear()  # what pages load through their stylesheets may differ
        policy = site_policy(self.config, built, images.baseurl, images.site_url, self.policies)
        redirects = site_redirects(built, images.baseurl, images.site_url)
        files = site_nginx_files(self.config, policy, redirects)[0]
        # A file of the site's own that is no longer needed goes back to the runtime's.
        if SITE_CSP_CONF in self.nginx_files and SITE_CSP_CONF not in files:
            files[SITE_CSP_CONF] = render_csp_conf(strict_policy(), {})[0]
        if SITE_REDIRECTS_CONF in self.nginx_files and SITE_REDIRECTS_CONF not in files:
            files[SITE_REDIRECTS_CONF] = render_redirects_conf(())
        extra = {path: text for path, text in files.items() if self.nginx_files.get(path) != text}
        number = self.edits + 1
        labels: dict[str, str] = {
            Label.HOT_EDITS: str(number),
            Label.CSP: policy.label(),
            Label.REDIRECTS: redirects_label(redirects),
        }
        with self.progress.step(f"Laying the {len(edit.changed)} changed files over the image"):
            tag = layered_image(
                self.engine, self.site, images.image.tag, edit, extra, labels, number
            )
        hot = replace(
            images, image=self.engine.built(tag), built=built, reused=False, csp=policy.as_dict(),
            redirects=redirects,
            seconds=time.monotonic() - changed_at, layers=tuple(self.engine.history(tag)),
        )  # fmt: skip

        def check(where: str) -> CheckReport:
            report = check_changed(
                where, built, set(edit.changed), self.progress,
                baseurl=images.baseurl, site_url=images.site_url, redirects=redirects,
            )  # fmt: skip
            return report.for_up(strict=self.strict)

        with site_lock(self.site):
            serving = serving_now(self.engine, self.site, self.config.host, self.config.port)
            result = serve_image(
                self.engine, self.site, hot, check, self.config, self.progress,
                serving=serving, strict=self.strict, live_reload=True,
            )  # fmt: skip
        self._forget(images.image)
        self.images, self.nginx_files, self.edits = hot, {**self.nginx_files, **extra}, number
        self.versions += 1
        return replace(result, hot_edits=number)

    def _forget(self, previous: ImageInfo) -> None:
        """Remove the edit layer image the preview no longer runs (never the full build's)."""
        image = self.engine.find_image(previous.id)
        if image is not None and Label.HOT_EDITS in (image.labels or {}):
            with contextlib.suppress(SitedeployError), self.engine.errors("Pruning"):
                self.engine.client.images.remove(previous.id)

    def _check_everything(self, result: UpResult) -> None:
        """The whole site, in the background, once the edit is served. Its findings are
        dropped when a newer version was served meanwhile (that one gets its own check)."""
        version = self.versions

        def run() -> None:
            try:
                report = check_site(
                    result.url, result.built, Progress(quiet=True),
                    baseurl=result.images.baseurl, site_url=result.images.site_url,
                    redirects=result.images.redirects,
                ).for_up(strict=self.strict)  # fmt: skip
            except SitedeployError as error:
                if version == self.versions:
                    self.progress.warning(f"The full check after the edit failed: {error.message}")
                return
            if version != self.versions:
                return
            if report.findings and (report.errors or report.warnings):
                for finding in [*report.errors, *report.warnings][:10]:
                    self.progress.warning(f"Full check: {finding}")
            self.progress.info(
                f"Full check of the edit: {report.files_checked} files, "
                f"{report.links_checked} links, {len(report.errors)} failures, "
                f"{len(report.warnings)} warnings ({report.seconds:.1f} s)."
            )

        self.full_check = threading.Thread(target=run, daemon=True)
        self.full_check.start()

    def close(self) -> None:
        if self.builder is not None:
            self.builder.stop()
            self.builder = None
