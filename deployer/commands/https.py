"""HTTPS for `deploy --to host`, around the switch: a given certificate checked here before
anything changes on the server, or one got over ACME by the renewer there — ahead of the
switch when the live front can already answer ACME's challenge, else right after it —
and the renewer left running to renew it (ship/tls.py). For a swarm: the given
certificate checked, or the renewer image pushed for the nodes (ship/swarm_renewer.py).

A certificate that cannot be had is one CertificateError; the site keeps serving as it
did: with its earlier certificate, or over plain HTTP if it never had one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from deployer.certs import GivenPair, given_pair
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import CertificateError, ConfigError
from deployer.image.renewer import ensure_renewer_image
from deployer.labels import RENEWER_REPOSITORY
from deployer.progress import Progress
from deployer.serve.front import current_front, https_port_of, reconfigure_tls
from deployer.serve.front_config import FrontTls
from deployer.ship.publish import PublishSettings, push_image
from deployer.ship.registry import Registry
from deployer.ship.swarm_renewer import SwarmAcme
from deployer.ship.swarm_services import SwarmTls
from deployer.ship.tls import (
    ensure_renewer,
    front_tls,
    in_place,
    install_given,
    obtain,
    remove_renewer,
    serves,
    unexpired,
)
from deployer.ship.transfer import send_image
from deployer.site import Site
from deployer.tls_settings import EAB_HMAC_ENV, HTTP_01, TLS_ALPN_01, TlsSettings


@dataclass(frozen=True)
class HttpsPlan:
    """What a deploy does for HTTPS, decided before anything changes on the server."""

    settings: TlsSettings
    given: GivenPair | None  # a certificate the user gave, read and checked
    renewer_image: str | None  # on the server: ACME's way
    http_port: int  # where the front answers ACME's HTTP-01 challenge


def plan_https(
    local: Engine,
    server: Engine,
    site: Site,
    config: SiteConfig,
    http_port: int,
    progress: Progress,
) -> HttpsPlan | None:
    """Check a given certificate (every problem at once), or have the renewer image on
    the server; None: the site is served over plain HTTP."""
    settings = config.tls
    if not settings.enabled:
        return None
    if settings.cert is not None and settings.key is not None:
        fix = (
            "Nothing was changed on the server: fix [tls] cert and key in sitedeploy.toml "
            "(or --cert/--key) and deploy again."
        )
        given = given_pair(settings.cert, settings.key, settings.domains, fix)
        return HttpsPlan(settings, given, None, http_port)
    _require_eab_key(settings, "server")
    image = ensure_renewer_image(local, site, config, progress)
    if server is not local:
        with progress.step(f"Sending the renewer image to {server.host}"):
            send_image(local, server, image, RENEWER_REPOSITORY, progress)
    return HttpsPlan(settings, None, image, http_port)


def _require_eab_key(settings: TlsSettings, where: str) -> None:
    if settings.acme_eab_kid and not os.environ.get(EAB_HMAC_ENV):
        raise CertificateError(
            f"[tls] acme_eab_kid is set, but {EAB_HMAC_ENV} is not: the directory's External "
            "Account Binding needs its key too (it is a secret, so it is read from the "
            f"environment only). Nothing was changed on the {where}."
        )


@dataclass(frozen=True)
class FrontPlan:
    """What the switch gives the front, and whether a certificate is still to be got."""

    tls: FrontTls
    certificate_due: bool


def before_switch(
    server: Engine, live: Site, plan: HttpsPlan, site_image: str, progress: Progress
) -> FrontPlan:
    settings = plan.settings
    if plan.given is not None:
        install_given(server, live, site_image, plan.given)
        remove_renewer(server, live)
        return FrontPlan(front_tls(settings, certificate=True, given=plan.given.info), False)
    found = in_place(server, live, site_image)
    if serves(found, settings):
        return FrontPlan(front_tls(settings, certificate=True), False)
    # Until the new one is there: the earlier certificate (names changed, or given
    # before), or none (plain HTTP with ACME's answers).
    meanwhile = front_tls(settings, certificate=unexpired(found))
    front = current_front(server, live)
    if front is None or https_port_of(front) != meanwhile.https_port:
        return FrontPlan(meanwhile, True)  # the switch starts a front that can answer
    reconfigure_tls(server, live, front, meanwhile)
    _obtain(server, live, plan, progress)
    return FrontPlan(front_tls(settings, certificate=True), False)


def after_switch(
    server: Engine, live: Site, plan: HttpsPlan | None, front: FrontPlan | None, progress: Progress
) -> None:
    """Get the certificate if the switch had to come first, turn HTTPS on, and keep the
    renewer running (without HTTPS: no renewer)."""
    if plan is None:
        remove_renewer(server, live)
        return
    if plan.renewer_image is None:  # a given certificate: in place before the switch
        return
    if front is not None and front.certificate_due:
        _obtain(server, live, plan, progress)
        running = current_front(server, live)
        if running is not None:
            reconfigure_tls(server, live, running, front_tls(plan.settings, certificate=True))
    ensure_renewer(server, live, plan.renewer_image, plan.settings)


def swarm_tls(settings: TlsSettings) -> SwarmTls | None:
    """HTTPS at a swarm's fronts: the certificate given (read and checked here first), or
    (given=None) ACME by each node's renewer. Said before anything is published."""
    if not settings.enabled:
        return None
    if settings.cert is None or settings.key is None:
        if settings.acme_challenge == TLS_ALPN_01:
            raise ConfigError(
                f'[tls] acme_challenge = "{TLS_ALPN_01}" is for a server (deploy --to host). '
                "On a swarm the CA may ask any node, and a node's front can pass an HTTP "
                "request on to the node that has the answer, not a TLS handshake: use "
                f'"{HTTP_01}" (port 80 open on every node) or give the certificate ([tls] '
                "cert and key). Nothing was published."
            )
        _require_eab_key(settings, "swarm")
        return SwarmTls(front_tls(settings, certificate=True), None)
    fix = "Nothing was changed on the swarm: fix [tls] cert and key."
    given = given_pair(settings.cert, settings.key, settings.domains, fix)
    return SwarmTls(front_tls(settings, certificate=True, given=given.info), given)


def swarm_acme(
    engine: Engine, site: Site, config: SiteConfig, publish: PublishSettings, progress: Progress
) -> SwarmAcme:
    """The renewer image, pushed beside the site's image (its repository, tag
    `acme-renewer-…`) for every node to pull, pinned to its digest."""
    image = ensure_renewer_image(engine, site, config, progress)
    registry, repository = publish.target(config, "deploy --to swarm")
    tag = f"acme-renewer-{image.rsplit(':', 1)[1]}"
    pinned = push_image(
        engine, Registry(registry, publish.credentials), repository, tag, image, publish, progress
    )
    return SwarmAcme(pinned, config.tls)


def _obtain(server: Engine, live: Site, plan: HttpsPlan, progress: Progress) -> None:
    if plan.renewer_image is None:
        raise CertificateError("No ACME renewer image: a certificate was given.")
    obtain(server, live, plan.renewer_image, plan.settings, plan.http_port, progress)
