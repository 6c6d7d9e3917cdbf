"""The commands that ship a site's image: publish, k8s (live deploys: live.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from deployer.cli import report_ship
from deployer.cli.options import (
    Out,
    absolute,
    build_options,
    load,
    publish_settings,
    registry_options,
    reported,
    site_argument,
)
from deployer.commands.publish import publish as run_publish
from deployer.config import site_file
from deployer.engine import connect
from deployer.errors import ConfigError
from deployer.ship.k8s import ingress_tls, k8s_yaml


@click.command()
@site_argument
@registry_options
@click.option(
    "--tag",
    "tags",
    multiple=True,
    help="Tag to push (repeatable). Default: the content hash (and git-<commit> in a clean "
    "git checkout); `latest` only when asked.",
)
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    help="A CPU to publish for: linux/amd64 or linux/arm64; repeat for both, pushed as one "
    "index [publish.platforms, else both].",
)
@click.option("--dry-run", is_flag=True, help="Print what would be pushed where; push nothing.")
@click.option(
    "--sign/--no-sign",
    default=None,
    help="Sign the pushed digest, as cosign does (the signature beside it, tag "
    "sha256-<digest>.sig) [publish.sign, else no].",
)
@click.option(
    "--signing-key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The private key to sign with (`sitedeploy keys new` makes one; its password from "
    "SITEDEPLOY_SIGNING_PASSWORD) [publish.signing_key, else the key in "
    "SITEDEPLOY_SIGNING_KEY].",
)
@build_options
@reported
def publish(
    site: Path,
    out: Out,
    registry: str | None,
    repository: str | None,
    tags: tuple[str, ...],
    platforms: tuple[str, ...],
    username: str | None,
    password_stdin: bool,
    dry_run: bool,
    sign: bool | None,
    signing_key: Path | None,
    **options: Any,
) -> None:
    """Push SITE's nginx image (the one `up` previews) to a registry, then verify it there.

    Every tag is pushed with per-layer progress; transient failures are retried a few
    times. Afterwards the registry's own API must report the pushed digest for every tag
    and hold every layer. For more than the engine's own CPU (by default amd64 and arm64)
    each other CPU's image is the same site layers on that CPU's nginx runtime, made from
    Debian's packages once, and every tag names one OCI index of them all. With --sign,
    the index and each image are signed the way cosign signs (ECDSA P-256), so `cosign
    verify --key`, skopeo's sigstoreSigned policy and `sitedeploy verify` check it. A
    password is never taken from the command line.
    """
    folder, config = load(
        site, registry=registry, repository=repository, sign=sign,
        signing_key=absolute(signing_key), platforms=platforms or None, **options,
    )  # fmt: skip
    settings = publish_settings(config, username, password_stdin, tags=tags, dry_run=dry_run)
    result = run_publish(connect(), folder, config, out.progress, settings)
    report_ship.show_publish(out.progress, result)
    out.emit({"ok": True, **result.as_dict()})


@click.command()
@site_argument
@click.option(
    "--image",
    help="The published image: REPOSITORY@sha256:… (or a tag pushed from here) [the image "
    "last published to [publish] registry/repository from here].",
)
@click.option(
    "--replicas", "deploy_replicas", type=click.IntRange(min=1), help="[deploy.replicas, 3]"
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="Also write an Ingress for this host name; repeat for more [tls.domains].",
)
@click.option(
    "--cluster-issuer",
    default="letsencrypt",
    show_default=True,
    help="With [tls] domains: the cert-manager ClusterIssuer the Ingress gets its "
    "certificate from (a given [tls] cert becomes a TLS Secret instead).",
)
@click.option(
    "--verify-key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Also write a Kyverno ClusterPolicy admitting the image only with this public "
    "key's signature (publish --sign) [deploy.verify_key].",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to a file instead of stdout.",
)
@reported
def k8s(
    site: Path,
    out: Out,
    image: str | None,
    deploy_replicas: int | None,
    hosts: tuple[str, ...],
    cluster_issuer: str,
    verify_key: Path | None,
    output: Path | None,
) -> None:
    """Write Kubernetes manifests (Deployment, Service, optional Ingress) for SITE's image.

    The Deployment is pinned to the image digest and hardened like the preview
    (runAsNonRoot, readOnlyRootFilesystem, all capabilities dropped), probes nginx's health
    location, and never drops capacity during a rollout (maxUnavailable 0). With [tls]
    in sitedeploy.toml the Ingress serves HTTPS for its domains: cert-manager's
    --cluster-issuer gets the certificate, or a given [tls] cert and key become a TLS
    Secret (written only to --output, mode 0600: it holds the key). With --verify-key, a
    Kyverno ClusterPolicy admits the image only with that key's signature. With --json the
    YAML is the object's "yaml" (or it goes to --output).
    """
    folder, config = load(site, deploy_replicas=deploy_replicas, verify_key=absolute(verify_key))
    verify_with = site_file(folder.path, config.verify_key)
    published = (
        f"{config.registry}/{config.repository}" if config.registry and config.repository else None
    )
    tls, names = ingress_tls(config.tls, cluster_issuer)
    if tls is not None and tls.given is not None and output is None:
        raise ConfigError(
            "k8s: the TLS Secret for [tls] cert holds the private key, which is never printed: "
            "write the manifests to a file with -o FILE (made readable only by you)."
        )
    text, pinned = k8s_yaml(
        folder, image, replicas=config.deploy_replicas, hosts=hosts or names, tls=tls,
        published=published, verify_key=verify_with.read_bytes() if verify_with else None,
    )  # fmt: skip
    if output:
        output.touch(mode=0o600)
        output.chmod(0o600)
        output.write_text(text)
        out.progress.success(f"Wrote {output} for {pinned}.")
    elif not out.as_json:
        click.echo(text, nl=False)
    written = {"output": str(output)} if output else {"yaml": text}  # no key: -o then
    out.emit({"ok": True, "image": pinned, "replicas": config.deploy_replicas, **written})
