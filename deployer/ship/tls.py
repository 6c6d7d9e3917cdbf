"""HTTPS for a site live on a server: its certificate volume, a certificate the user gives,
and the renewer that gets and renews one over ACME (docker/acme/renewer.py, certbot's
`acme` library) — on the server, beside the front, with nobody running a command.

Two volumes per live site: `<site>-tls` (the key and chain the front reads, ACME's HTTP-01
answers, the renewer's status; the front mounts it read-only, nothing else mounts it) and
`<site>-acme` (the ACME account key, the site's key, an EAB key; only the renewer mounts
it). The renewer runs as UID 102 in the front's group: the key file is 0640, readable by
the front's nginx (group 101) and no other user. Nothing secret is put in an image, a
label, an environment variable, a command line or a log: settings that are not secret go
on the renewer's command line, the EAB key into its volume as a 0600 file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.models.containers import Container

from deployer.certs import CertificateInfo, GivenPair, leaf_info
from deployer.digests import inputs_hash
from deployer.engine import Engine
from deployer.errors import CertificateError, SitedeployError
from deployer.image.extract import file_of
from deployer.labels import Label, Role
from deployer.progress import Progress
from deployer.serve.front_config import TLS_DIR, FrontTls, tls_volume
from deployer.serve.preview import create_hardened, find_containers, logs_tail, remove_container
from deployer.site import Site
from deployer.tls_settings import EAB_HMAC_ENV, TLS_ALPN_01, TlsSettings

RENEWER_TLS = "/tls"  # the renewer's mount of the certificate volume
RENEWER_ACME = "/acme"  # … and of its own
RENEWER_UID, FRONT_GID = 102, 101
OBTAIN_TIMEOUT = 180  # seconds for one order (validation and issuance)


def acme_volume(site: Site) -> str:
    return f"{site.container_name}-acme"


def renewer_name(site: Site) -> str:
    return f"{site.container_name}-renewer"


def front_tls(
    settings: TlsSettings, certificate: bool, given: CertificateInfo | None = None
) -> FrontTls:
    """The front's HTTPS for these settings (`given`: the certificate given, stapled when
    its CA names an OCSP responder nginx can ask: http://)."""
    stapled = None
    if given is not None and (given.ocsp or "").startswith("http://"):
        stapled = given.serial
    return FrontTls(
        https_port=settings.https_port or 443,
        certificate=certificate,
        alpn=settings.acme and settings.acme_challenge == TLS_ALPN_01,
        stapled=stapled,
        hsts=settings.hsts_header(),
        canonical=settings.canonical,
    )


def renewer_settings(settings: TlsSettings) -> dict[str, Any]:
    """What the renewer is told on its command line (nothing secret)."""
    return {
        "directory": settings.acme_directory,
        "email": settings.acme_email,
        "domains": list(settings.domains),
        "eab_kid": settings.acme_eab_kid,
        "challenge": settings.acme_challenge,
    }


def certificate_volume_labels(site: Site) -> dict[str, str]:
    """The certificate volumes' labels: without the site id, so that `remove` (which takes
    every object with it) keeps the keys and certificate for the next deploy."""
    return {Label.SITE_PATH: str(site.path), Label.ROLE: Role.CERTIFICATES}


_File = tuple[str, bytes | None, int, int, int]  # name, data (None: a folder), mode, uid, gid


def _entry(
    name: str, data: bytes | None, mode: int, uid: int, gid: int
) -> tuple[tarfile.TarInfo, io.BytesIO | None]:
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, int(time.time())
    if data is None:
        info.type = tarfile.DIRTYPE
        return info, None
    info.size = len(data)
    return info, io.BytesIO(data)


def _archive(entries: list[_File]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data, mode, uid, gid in entries:
            archive.addfile(*_entry(name, data, mode, uid, gid))
    return buffer.getvalue()


_LAYOUT: list[_File] = [
    ("live", None, 0o750, RENEWER_UID, FRONT_GID),
    ("challenges", None, 0o755, RENEWER_UID, FRONT_GID),
    ("alpn", None, 0o750, RENEWER_UID, FRONT_GID),
]


@contextlib.contextmanager
def _volumes_in(engine: Engine, site: Site, image: str) -> Iterator[Container]:
    """A container (created, never started) with the site's certificate volumes mounted
    read-write, to put files in or read them; removed after."""
    with engine.errors("Preparing the certificate volumes"):
        for volume in (tls_volume(site), acme_volume(site)):
            engine.client.volumes.create(volume, labels=certificate_volume_labels(site))
        helper = engine.client.containers.create(
            image,
            entrypoint=["/nonexistent"],
            user=f"{RENEWER_UID}:{FRONT_GID}",
            network_mode="none",
            labels=site.labels,
            volumes={
                tls_volume(site): {"bind": RENEWER_TLS, "mode": "rw"},
                acme_volume(site): {"bind": RENEWER_ACME, "mode": "rw"},
            },
        )
    try:
        yield helper
    finally:
        with contextlib.suppress(SitedeployError), engine.errors("Removing a helper container"):
            helper.remove(force=True)


def _read(engine: Engine, container: Container, path: str) -> bytes | None:
    """A file from a container's mounts (None: not there)."""
    try:
        with engine.errors(f"Reading {path}"):
            return file_of(container, path)
    except (SitedeployError, FileNotFoundError):
        return None


def install_given(engine: Engine, site: Site, image: str, pair: GivenPair) -> None:
    """Put a given certificate where the front reads it (the renewer, if any, is removed
    by the caller: a given certificate is not renewed)."""
    with _volumes_in(engine, site, image) as helper, engine.errors("Installing the certificate"):
        helper.put_archive(
            RENEWER_TLS,
            _archive(
                [
                    *_LAYOUT,
                    ("live/site.pem", pair.pem, 0o640, RENEWER_UID, FRONT_GID),
                    ("live/source", b"given\n", 0o644, RENEWER_UID, FRONT_GID),
                ]
            ),
        )


@dataclass(frozen=True)
class InPlace:
    """The certificate in a site's volume, and where it came from."""

    info: CertificateInfo
    source: str  # "given", or "acme DIRECTORY"


def in_place(engine: Engine, site: Site, image: str) -> InPlace | None:
    with _volumes_in(engine, site, image) as helper:
        pem = _read(engine, helper, f"{RENEWER_TLS}/live/site.pem")
        source = _read(engine, helper, f"{RENEWER_TLS}/live/source")
    info = leaf_info(pem) if pem else None
    if info is None:
        return None
    return InPlace(info, (source or b"").decode().strip())


def unexpired(found: InPlace | None, now: float | None = None) -> bool:
    return found is not None and found.info.not_after.timestamp() > (now or time.time())


def serves(found: InPlace | None, settings: TlsSettings, now: float | None = None) -> bool:
    """Does the certificate in place do for these settings (their names, their source,
    not expired)?"""
    if found is None or not unexpired(found, now):
        return False
    if settings.acme and found.source != f"acme {settings.acme_directory}":
        return False
    return found.info.covers(settings.domains)


def _renewer_options(engine: Engine, site: Site, settings: TlsSettings) -> dict[str, Any]:
    environment = {}
    if settings.acme_ca:
        environment["REQUESTS_CA_BUNDLE"] = f"{RENEWER_ACME}/ca.pem"
    return {
        "labels": {**site.labels, Label.ROLE: Role.RENEWER},
        "volumes": {
            tls_volume(site): {"bind": RENEWER_TLS, "mode": "rw"},
            acme_volume(site): {"bind": RENEWER_ACME, "mode": "rw"},
        },
        # Out to the ACME directory only; on the host's network, so a directory on the
        # server's loopback (a company's, a test CA) is reached as the server reaches it.
        "network_mode": "host",
        "environment": environment,
    }


def _put_acme_files(engine: Engine, site: Site, image: str, settings: TlsSettings) -> None:
    """The ACME directory's CA (when given) and the EAB key (from the environment) into
    the renewer's own volume."""
    files: list[_File] = []
    if settings.acme_ca:
        ca = Path(settings.acme_ca).read_bytes()
        files.append(("ca.pem", ca, 0o644, RENEWER_UID, RENEWER_UID))
    hmac = os.environ.get(EAB_HMAC_ENV)
    if settings.acme_eab_kid and hmac:
        files.append(("eab-hmac", hmac.encode(), 0o600, RENEWER_UID, RENEWER_UID))
    with _volumes_in(engine, site, image) as helper, engine.errors("Preparing the renewer"):
        helper.put_archive(RENEWER_TLS, _archive(_LAYOUT))
        if files:
            helper.put_archive(RENEWER_ACME, _archive(files))


def obtain(
    engine: Engine,
    site: Site,
    image: str,
    settings: TlsSettings,
    http_port: int,
    progress: Progress,
) -> None:
    """Get a certificate for the settings' names now (the renewer, once), answered by the
    front's HTTP port; raise CertificateError with the directory's own words."""
    _put_acme_files(engine, site, image, settings)
    command = ["once", json.dumps(renewer_settings(settings))]
    name = f"{renewer_name(site)}-once"
    stale = engine.find_container(name)  # a run that was stopped half-way
    if stale is not None:
        remove_container(engine, stale, timeout=1)
    with engine.errors("Starting the certificate request"):
        once = create_hardened(
            engine, image, publish=None, name=name, command=command,
            restart_policy={"Name": "no"},  # one attempt: its exit is the answer
            **_renewer_options(engine, site, settings),
        )  # fmt: skip
    try:
        with (
            progress.step(f"Getting a certificate for {', '.join(settings.domains)}"),
            engine.errors("Getting a certificate"),
        ):
            once.start()
            code = once.wait(timeout=OBTAIN_TIMEOUT).get("StatusCode")
        said = logs_tail(engine, once)
    finally:
        remove_container(engine, once, timeout=1)
    if code != 0:
        last = said.strip().splitlines()[-1] if said.strip() else "it said nothing"
        reason = last.split(" failed: ", 1)[-1]
        if settings.acme_challenge == TLS_ALPN_01:
            port, standard = settings.https_port or 443, "TLS-ALPN-01 validation asks port 443"
        else:
            port, standard = http_port, "HTTP-01 validation asks port 80"
        raise CertificateError(
            f"No certificate for {', '.join(settings.domains)}: {reason}. The site keeps "
            "serving as it did. Check that each name resolves to this server and that its "
            f"port {port} is the one the internet reaches it on (ACME's {standard}), or "
            "fix [tls] in sitedeploy.toml; then deploy again."
        )


def _settings_hash(image: str, settings: TlsSettings) -> str:
    return inputs_hash(image, json.dumps(renewer_settings(settings), sort_keys=True))[:16]


def ensure_renewer(engine: Engine, site: Site, image: str, settings: TlsSettings) -> Container:
    """The renewer running with these settings (started again only if they changed)."""
    wanted = _settings_hash(image, settings)
    for renewer in find_containers(engine, site, Role.RENEWER):
        if (
            renewer.status == "running"
            and (renewer.labels or {}).get(Label.RENEWER_SETTINGS) == wanted
        ):
            return renewer
        remove_container(engine, renewer, timeout=5)
    options = _renewer_options(engine, site, settings)
    options["labels"][Label.RENEWER_SETTINGS] = wanted
    command = ["run", json.dumps(renewer_settings(settings))]
    renewer = create_hardened(
        engine, image, publish=None, name=renewer_name(site), command=command, **options
    )
    with engine.errors(f"Starting {renewer.name}"):
        renewer.start()
    return renewer


def remove_renewer(engine: Engine, site: Site) -> list[str]:
    removed = []
    for renewer in find_containers(engine, site, Role.RENEWER):
        remove_container(engine, renewer, timeout=5)
        removed.append(str(renewer.name))
    return removed


@dataclass(frozen=True)
class TlsStatus:
    """A live site's certificate, as `status` shows it."""

    certificate: CertificateInfo | None
    source: str | None  # "given", or "acme DIRECTORY"
    renewer: str | None  # its state (running …), None: no renewer (a given certificate)
    last: dict[str, Any] | None  # the renewer's last attempt: state, at, error, next

    def as_dict(self) -> dict[str, Any]:
        return {
            "certificate": self.certificate.as_dict() if self.certificate else None,
            "source": self.source,
            "renewer": self.renewer,
            "last_attempt": self.last,
        }


def tls_status(engine: Engine, site: Site, front: Container) -> TlsStatus:
    """Read through the front (it mounts the volume): the certificate, the renewer's
    last word."""
    pem = _read(engine, front, f"{TLS_DIR}/live/site.pem")
    source = _read(engine, front, f"{TLS_DIR}/live/source")
    last = _read(engine, front, f"{TLS_DIR}/status.json")
    renewers = find_containers(engine, site, Role.RENEWER)
    return TlsStatus(
        leaf_info(pem) if pem else None,
        source.decode().strip() if source else None,
        str(renewers[0].status) if renewers else None,
        json.loads(last) if last else None,
    )
