"""What a build or a deployment produced, as JSON for machines and tables for people.

The numbers: final (nginx) image against the Ruby builder image — size, ratio, layers —
the site's own bytes, the build time, and what the health check found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.filesize import decimal
from rich.markup import escape
from rich.table import Table

from deployer.check.findings import Finding, Severity
from deployer.labels import content_tag

if TYPE_CHECKING:  # only named in annotations: `build` need not import what `inspect` does
    from deployer.check.findings import CheckReport
    from deployer.commands.inspect import InspectResult
    from deployer.engine import ImageInfo
    from deployer.errors import SitedeployError
    from deployer.image.images import SiteImages
    from deployer.progress import Progress
    from deployer.provenance.verify import Verification
    from deployer.serve.preview import PreviewStatus
    from deployer.serve.switch import UpResult
    from deployer.site import Site


def _image(info: ImageInfo) -> dict[str, Any]:
    return {"tag": info.tag, "id": info.id, "size": info.size, "layers": info.layers}


def build_summary(images: SiteImages) -> dict[str, Any]:
    """The build's facts as plain data (the `--json` of `build` and `report`)."""
    ratio = images.size_ratio
    site_bytes = images.built.total_bytes
    return {
        "image": images.image.tag,
        "image_id": images.image.id,
        "image_size": images.image.size,
        "image_layers": images.image.layers,
        "builder_image": images.builder.tag,
        "builder_id": images.builder.id,
        "builder_size": images.builder.size,
        "builder_layers": images.builder.layers,
        "size_ratio": round(ratio, 4) if ratio is not None else None,
        "site_bytes": site_bytes,
        # The yardstick: everything in the final image that is not the site itself.
        "overhead_bytes": images.image.size - site_bytes,
        "runtime_image": _image(images.runtime),
        "site_layer_bytes": images.image.size - images.runtime.size,
        "content_hash": images.content_hash,
        "dockerfile": images.dockerfile,
        "build_seconds": round(images.seconds, 2),
        "reused": images.reused,
        "build_engine": images.builder_name,
        "bases": [
            {
                "requested": base.requested,
                "reference": base.reference,
                "id": base.image_id,
                "origin": base.origin.value,
                "repo_digest": base.repo_digest,
            }
            for base in images.bases
        ],
        "layers": [{"created_by": layer.created_by, "size": layer.size} for layer in images.layers],
        "warnings": list(images.warnings),
        "gems": {
            "way": str(images.gems.way) if images.gems else None,
            "why": images.gems.reason if images.gems else None,
            "source": images.gems.shown_source if images.gems else None,
            "used": [gem.__dict__ for gem in images.gems_used],
        },
        "csp": images.csp,
    }


def _warning(warning: str | Finding) -> dict[str, Any]:
    if isinstance(warning, Finding):
        return warning.as_dict()
    return {"kind": "build", "severity": "warning", "detail": warning}


def up_summary(result: UpResult, edit_to_served: float | None = None) -> dict[str, Any]:
    """The `--json` object of `up` (with --watch: one per deploy, with the save's delay)."""
    health = result.health
    summary = build_summary(result.images)
    summary.update(
        {
            "url": result.page_url,
            "root_url": result.url,
            "container": result.container,
            "server": result.server,
            "replaced": result.replaced,
            "switch_seconds": (
                round(result.switch_seconds, 3) if result.switch_seconds is not None else None
            ),
            "pages_checked": health.files_checked,
            "links_checked": health.links_checked,
            "health_seconds": round(health.seconds, 2),
            "failures": [finding.as_dict() for finding in health.errors],
            "warnings": [_warning(w) for w in result.warnings],
        }
    )
    if edit_to_served is not None:
        summary["edit_to_served_seconds"] = round(edit_to_served, 2)
        summary["edited_pages_only"] = result.edited_only
    return summary


def _origin(origin: str) -> str:
    return {"debian": "Debian's packages", "ruby": "Ruby itself"}.get(origin, origin)


def _short(created_by: str, width: int = 90) -> str:
    text = created_by.replace("/bin/sh -c #(nop) ", "").replace("/bin/sh -c ", "RUN ")
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def show_build(progress: Progress, images: SiteImages, *, show_layers: bool = False) -> None:
    """Print the size table (and, if asked, the final image's layers)."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("image", "tag", "id"):
        table.add_column(column)
    for column in ("size", "bytes", "layers"):
        table.add_column(column, justify="right")
    for label, info in (("nginx (final)", images.image), ("builder (Ruby)", images.builder)):
        table.add_row(
            label,
            info.tag,
            info.id.removeprefix("sha256:")[:12],
            decimal(info.size),
            f"{info.size:,}",
            str(info.layers),
        )
    progress.print(table)
    how = "reused: nothing changed" if images.reused else f"built with {images.builder_name}"
    progress.info(f"Images ready in {images.seconds:.1f} s ({how}).")
    if images.gems_used:
        origins: dict[str, int] = {}
        for gem in images.gems_used:
            origins[gem.origin] = origins.get(gem.origin, 0) + 1
        where = ", ".join(f"{count} from {_origin(origin)}" for origin, count in origins.items())
        way = images.gems.way if images.gems else "debian"
        progress.info(f"Gems ({way}): {len(images.gems_used)} — {where}.")
    if images.csp_summary:
        progress.info(images.csp_summary + ".")
    ratio = images.size_ratio
    if ratio:
        progress.info(
            f"The final image is {ratio:.1%} of the builder's size "
            f"({1 / ratio:.0f} times smaller): nginx and its libraries "
            f"{decimal(images.runtime.size)}, the site's "
            f"{decimal(images.built.total_bytes)} stored in "
            f"{decimal(images.image.size - images.runtime.size)} (text files as .gz and .br only)."
        )
    if show_layers:
        layers = Table(box=None, pad_edge=False, header_style="bold")
        layers.add_column("size", justify="right")
        layers.add_column("created by")
        for layer in images.layers:
            layers.add_row(decimal(layer.size), _short(layer.created_by))
        progress.print(layers)


def show_up(progress: Progress, result: UpResult, edit_to_served: float | None = None) -> None:
    """The warnings, the size table, the check's numbers and where the preview is; for a
    hot edit only what its check found (the build's own were said at the full build)."""
    warnings = result.health.warnings if result.hot_edits else result.warnings
    for warning in warnings:
        progress.warning(str(warning))
    if result.hot_edits:
        progress.info(f"Edit layer {result.hot_edits}: {result.images.image.tag}.")
    else:
        show_build(progress, result.images)
    health = result.health
    progress.info(
        f"Checked {health.files_checked} files and {health.links_checked} links over "
        f"HTTP in {health.seconds:.1f} s: {len(health.errors)} failures, "
        f"{len(warnings)} warnings."
    )
    if result.switch_seconds is not None:
        progress.info(
            f"Moved {result.url} to the new container in {result.switch_seconds:.2f} s "
            "(the port answered throughout)."
        )
    progress.success(f"Preview: {result.page_url}  (served by {result.server})")
    if edit_to_served is not None and result.edited_only:
        progress.info(
            f"Serving the edited pages {edit_to_served:.1f} s after the save; the whole site "
            "follows as soon as Jekyll has regenerated it."
        )
    elif edit_to_served is not None:
        progress.info(f"Serving the change {edit_to_served:.1f} s after it was saved.")


def show_check(progress: Progress, report: CheckReport, *, limit: int = 20) -> None:
    """Findings grouped by kind (errors first), each with where it was referenced from."""
    for level in (Severity.ERROR, Severity.WARNING):
        findings = report.of(level)
        by_kind: dict[str, list[Finding]] = {}
        for finding in findings:
            by_kind.setdefault(finding.kind, []).append(finding)
        for kind, group in sorted(by_kind.items()):
            style = "red" if level is Severity.ERROR else "yellow"
            progress.print(f"[{style}]{level.value}s: {kind} ({len(group)})[/{style}]")
            for finding in group[:limit]:
                where = f"\n      from {finding.referrer}" if finding.referrer else ""
                progress.print(f"  {escape(finding.url)}: {escape(finding.detail)}{escape(where)}")
            if len(group) > limit:
                progress.print(f"  … and {len(group) - limit} more (all of them with --json)")
    external = len(report.of(Severity.INFO))
    browser = f", {report.pages_in_browser} pages in Chromium" if report.pages_in_browser else ""
    progress.info(
        f"Checked {report.files_checked} files, {report.links_checked} links{browser} at "
        f"{report.url} in {report.seconds:.1f} s: {len(report.errors)} errors, "
        f"{len(report.warnings)} warnings, {external} external links not fetched."
    )
    for note in report.notes:
        progress.warning(note)


def show_inspection(progress: Progress, result: InspectResult) -> None:
    """The recipe beside the history, the bases, the bill of materials (and the SBOM file
    and verification, when asked for)."""
    found = result.inspection
    progress.info(f"{found.image} ({found.image_id[:19]})")
    recipe = Table(title="recipe and history", box=None, pad_edge=False, header_style="bold")
    for column in ("", "Dockerfile instruction", "history (created by)", "size"):
        recipe.add_column(column, overflow="fold")
    for line in found.recipe:
        recipe.add_row(
            "=" if line.matches else "!",
            _short(line.instruction or "-", 60),
            _short(line.created_by or "-", 60),
            decimal(line.size),
        )
    progress.print(recipe)
    for base in found.bases:
        origin = base["origin"]
        detail = base.get("repo_digest") or ""
        if origin == "bootstrapped":
            count = len(base.get("packages") or [])
            detail = (
                f"Debian {base.get('suite')} from {base.get('mirror')}, rootfs sha256 "
                f"{str(base.get('rootfs_sha256'))[:16]}…, {count} packages"
            )
        used = f"{base['requested']} -> {base['image']}"
        progress.info(f"{base['stage']} stage base: {used} ({origin}) {detail}")
    bom = Table(title="what ships in the image", box=None, pad_edge=False, header_style="bold")
    for column in ("file", "package", "version", "sha256"):
        bom.add_column(column)
    for file in found.sbom["files"]:
        bom.add_row(file["path"], file["package"], file["version"], file["sha256"][:16])
    progress.print(bom)
    if found.sbom["gems"]:
        gems = Table(
            title=f"gems that built the site ({found.sbom['gems_way']}; not in the image)",
            box=None, pad_edge=False, header_style="bold",
        )  # fmt: skip
        for column in ("gem", "version", "from"):
            gems.add_column(column)
        for gem in found.sbom["gems"]:
            gems.add_row(gem["name"], gem["version"], _origin(gem["origin"]))
        progress.print(gems)
    site = found.sbom["site"]
    progress.info(
        f"site: {site['files']} files, {decimal(site['bytes'])}, content sha256 {site['sha256']}"
    )
    show_csp(progress, found.csp)
    if result.sbom_path:
        progress.success(f"Wrote the CycloneDX bill of materials to {result.sbom_path}")
    if result.verification is not None:
        show_verification(progress, result.verification)


def show_csp(progress: Progress, csp: dict[str, Any]) -> None:
    """The image's Content-Security-Policy: how it was made, and why each source is there."""
    if not csp:
        return
    progress.info(f"{csp['summary']}.")
    pages = csp.get("pages_with_own_policy", 0)
    progress.info(
        f"default policy: {csp['default'] or '(none)'}"
        + (f"; pages with a policy of their own: {pages} (/etc/nginx/csp.conf)" if pages else "")
    )
    if not csp.get("allowed"):
        return
    table = Table(title="what the policy allows, and why", box=None, pad_edge=False)
    for column in ("directive", "source", "why", "first needed on", "pages"):
        table.add_column(column, overflow="fold")
    for allowed in csp["allowed"]:
        page = f"{allowed['page']}:{allowed['line']}" if allowed["line"] else allowed["page"]
        table.add_row(
            allowed["directive"], allowed["source"], allowed["why"], page or "every page",
            str(allowed["pages"] or "all"),
        )  # fmt: skip
    progress.print(table)
    if csp.get("hashes_not_listed"):
        progress.info(f"… and {csp['hashes_not_listed']} more hashes (in /etc/nginx/csp.conf).")


def show_verification(progress: Progress, checked: Verification) -> None:
    runtimes = ", ".join(runtime["platform"] for runtime in checked.runtimes)
    if checked.reproduced:
        progress.success(
            f"Rebuilt with the same inputs: same content tag "
            f"({content_tag(checked.content_hash)}) and "
            f"the same site bytes (sha256 {checked.site_sha256[:16]}…); the runtime's files "
            f"rebuilt from nothing cached are the same for {runtimes}."
        )
        return
    site_same = checked.same_inputs and checked.site_sha256 == checked.rebuilt_site_sha256
    why = (
        "the site's inputs changed since the image was built"
        if not checked.same_inputs
        else "the same inputs gave different bytes"
        if not site_same
        else "a runtime rebuilt from nothing cached has other files"
    )
    progress.warning(f"Not reproduced: {why}.")
    for line in checked.differences[:50]:
        progress.print(f"  {escape(line)}")
    for runtime in checked.runtimes:
        for line in runtime["differences"][:20]:
            progress.print(f"  {runtime['platform']} runtime: {escape(line)}")


def status_text(site: Site, state: PreviewStatus) -> str:
    """`sitedeploy status` for people."""
    if state.container is None:
        return f"No preview of {site.path}. Start one with: sitedeploy up {site.path}"
    health = f", image health check: {state.health}" if state.health else ""
    answering = "answering" if state.answering else "NOT answering"
    return (
        f"{state.container}: {state.state}{health}\n"
        f"  url:    {state.page_url} ({answering})\n"
        f"  server: {state.server or 'none answering'}\n"
        f"  image:  {state.image or '-'}"
    )


def show_watch_error(progress: Progress, error: SitedeployError) -> None:
    progress.error(error.format_message())
    progress.info("The last good version keeps serving; save a fix to redeploy.")
