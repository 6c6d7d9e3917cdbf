"""What going live produced, for people: a publish, a swarm rollout, a deploy to a server
and its status (the JSON is each result's own `as_dict`)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.filesize import decimal
from rich.table import Table

from deployer.progress import Progress
from deployer.ship.host import HostStatus
from deployer.ship.publish import PublishResult
from deployer.ship.swarm import SwarmStatus
from deployer.ship.tls import TlsStatus


def _since(stamp: str | None, now: datetime | None = None) -> str:
    """Docker's start time (RFC 3339, nanoseconds) as a person reads it: when, how long ago."""
    if not stamp:
        return "-"
    try:
        started = datetime.fromisoformat(stamp[:19]).replace(tzinfo=UTC)
    except ValueError:
        return stamp
    seconds = max(0, int(((now or datetime.now(UTC)) - started).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{started:%Y-%m-%d %H:%M} UTC ({seconds // size} {unit} ago)"
    return f"{started:%Y-%m-%d %H:%M:%S} UTC ({seconds} s ago)"


def show_publish(progress: Progress, result: PublishResult) -> None:
    """Which tags point at which digest, and what the push cost."""
    if result.dry_run:
        index = f" (one index for {', '.join(result.targets)})" if len(result.targets) > 1 else ""
        for ref in result.refs:
            progress.info(f"would push {result.image_id[:19]} as {ref}{index}")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("reference")
    table.add_column("digest")
    for ref in result.refs:
        table.add_row(ref, str(result.digest))
    progress.print(table)
    for image in result.platforms:
        progress.info(
            f"  {image.platform}: {image.digest} ({image.layers} layers, "
            f"{decimal(image.compressed_bytes)} to pull)"
        )
    progress.info(
        f"Pushed {result.layers_pushed} layers ({decimal(result.bytes_pushed)}); "
        f"{result.layers_existing} were already there. Verified {result.verified_layers} "
        f"layers through the registry API in {result.seconds:.1f} s."
    )
    if result.signature:
        progress.info(
            f"Signed: {result.signature['signed']}, signature at "
            f"{result.signature['reference']} (check it: sitedeploy verify IMAGE --key "
            "cosign.pub, or cosign verify --key cosign.pub IMAGE)."
        )
    progress.success(
        f"Pull it with: docker pull {result.registry}/{result.repository}@{result.digest}"
    )


def show_swarm(progress: Progress, state: SwarmStatus) -> None:
    """Replicas, the digest each task runs, and its health."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("task", "state", "health", "image"):
        table.add_column(column)
    for task in state.tasks:
        table.add_row(task.id, task.state, task.health or "-", task.image)
    progress.print(table)
    update = f"; last update: {state.update_state}" if state.update_state else ""
    progress.info(
        f"{state.service}: {state.running}/{state.desired} replicas running{update}; "
        f"served by {state.front} at {state.url}"
    )
    if state.certificate:
        shown = state.certificate
        progress.info(
            f"Certificate for {', '.join(shown['names'])} from {shown['issuer']}, expires "
            f"{shown['not_after'][:16].replace('T', ' ')} UTC (given: renew it yourself, "
            "and deploy again)."
        )
    if state.renewer:
        renewer = state.renewer
        here = renewer["certificate"]
        mine = (
            f" This node's: {', '.join(here['names'])} from {here['issuer']}, expires "
            f"{here['not_after'][:16].replace('T', ' ')} UTC, renewed from "
            f"{here['renew_at'][:16].replace('T', ' ')} UTC."
            if here
            else ""
        )
        progress.info(
            f"ACME: {renewer['with_certificate']}/{renewer['nodes']} nodes have their "
            f"certificate ({renewer['service']}).{mine}"
        )


def show_host(progress: Progress, state: HostStatus) -> None:
    """What runs on the server: where the front listens, the version serving (since when,
    how healthy), the one kept for rollback."""
    if state.front is None:
        progress.info(f"Nothing of this site runs on {state.server}.")
    else:
        listen = f"{state.address[0]}:{state.address[1]}" if state.address else "?"
        progress.info(f"{state.server}: front {state.front} ({state.state}) on {listen}")
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("version", "content", "image", "since", "health"):
        table.add_column(column)
    for name, version in (("serving", state.current), ("kept for rollback", state.previous)):
        if version is not None:
            table.add_row(
                name, version.content, version.digest or version.image[:19],
                _since(version.since), version.health or "-",
            )  # fmt: skip
    progress.print(table)
    if state.tls is not None:
        _show_certificate(progress, state.tls)
    if state.url:
        progress.success(f"Live: {state.url}")


def _show_certificate(progress: Progress, tls: TlsStatus) -> None:
    certificate = tls.certificate
    if certificate is None:
        progress.warning("HTTPS is set up, but no certificate is in place yet.")
    else:
        renewal = (
            f"renewed from {certificate.renew_at:%Y-%m-%d %H:%M} UTC by {tls.renewer or 'nobody'}"
            if tls.source and tls.source.startswith("acme")
            else "given: renew it yourself, and deploy again"
        )
        progress.info(
            f"Certificate for {', '.join(certificate.names)} from {certificate.issuer}, "
            f"expires {certificate.not_after:%Y-%m-%d %H:%M} UTC; {renewal}."
        )
    last = tls.last or {}
    if last.get("state") == "failed":
        progress.warning(f"The last renewal failed ({last.get('at')}): {last.get('error')}")
