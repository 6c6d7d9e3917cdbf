"""`sitedeploy check`: the site's running preview against the `_site` of the image it
runs, or any served copy (a deploy, with --url) against the folder's current build.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from deployer.built_site import HOT_SITE, scan_built_site
from deployer.check.findings import CheckReport
from deployer.check.health import serves_our_image
from deployer.check.served import check_site
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import NotRunning
from deployer.image.extract import extract_built_site
from deployer.image.fidelity import debian_differences, fallback_line
from deployer.image.images import build_site
from deployer.labels import Label, content_tag
from deployer.progress import Progress
from deployer.provenance.sbom import gems_from_labels
from deployer.redirects import redirects_from_label
from deployer.serve.preview import preview_status
from deployer.site import Site, builder_tag, cache_dir


def check_preview(
    engine: Engine, site: Site, progress: Progress, *, external: bool, browser: bool
) -> CheckReport:
    """Check the site's running preview against the `_site` of the image it runs."""
    status = preview_status(engine, site)
    if status.url is None or status.server is None:
        raise NotRunning(
            f"No preview of {site.path} is answering (state: {status.state}). Start one with "
            f"`sitedeploy up {site.path}`, or check another copy with --url."
        )
    server = engine.find_container(status.server)
    if server is None:
        raise NotRunning(f"{status.server} went away while we looked; run the check again.")
    labels = dict(server.labels or {})
    content_hash = labels.get(Label.CONTENT_HASH, "")
    image = engine.find_image(str(server.attrs.get("Image", "")))
    if image is not None and Label.HOT_EDITS in (image.labels or {}):
        # A hot edit of `up --watch`: its files are the hot copy of `_site`.
        built = scan_built_site(cache_dir(site) / HOT_SITE)
    else:
        builder = builder_tag(site, content_tag(content_hash))
        built = extract_built_site(engine, builder, site, content_hash)
    report = check_site(
        status.url,
        built,
        progress,
        baseurl=labels.get(Label.BASEURL, ""),
        site_url=labels.get(Label.SITE_URL, ""),
        external=external,
        browser=browser,
        redirects=redirects_from_label(labels.get(Label.REDIRECTS)),
    )
    return _with_fallback(report, site, labels)


def _with_fallback(report: CheckReport, site: Site, labels: dict[str, str]) -> CheckReport:
    """A site built the Debian way that fails its check: how the fallback's gems differ
    from the site's own is the first suspect, so the report says it."""
    if report.healthy or labels.get(Label.GEMS_WAY) != "debian":
        return report
    debian = {gem.name: gem.version for gem in gems_from_labels(labels) if gem.origin == "debian"}
    plugins = [name for name in debian if name.startswith("jekyll-") or "theme" in name]
    line = fallback_line(debian_differences(site.path, debian, plugins))
    return replace(report, notes=(*report.notes, line)) if line else report


def check_url(
    engine: Engine,
    site: Site,
    config: SiteConfig,
    url: str,
    progress: Progress,
    *,
    external: bool,
    browser: bool,
) -> CheckReport:
    """Check any served copy of the site (a deploy) against the folder's current build.

    `url` is where the server answers, with or without the site's base path. The redirects
    the image answers itself are checked where our image serves (a deploy of it, not
    another host's copy such as GitHub Pages, whose `/` may be another site)."""
    images = build_site(engine, site, config, progress)
    root = server_root(url, images.baseurl)
    return check_site(
        root,
        images.built,
        progress,
        baseurl=images.baseurl,
        site_url=images.site_url,
        external=external,
        browser=browser,
        redirects=images.redirects if serves_our_image(root) else (),
    )


def server_root(url: str, baseurl: str) -> str:
    """`url` without a trailing slash and without the site's base path, if it ends so."""
    root = url.rstrip("/")
    if baseurl and urlsplit(root).path.endswith(baseurl):
        root = root[: -len(baseurl)]
    return root
