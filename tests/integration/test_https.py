"""HTTPS for a live site, with real parts: pebble (the ACME test CA) and its DNS server
answering the test names with 127.0.0.1, pebble's HTTP-01 validation pointed at the front's
loopback port; the front's TLS asked by Python's ssl, curl-like urllib3 and Chromium
(trusting pebble's root from its management API, in an NSS database of its own); wrk over
keep-alive HTTPS across a renewal."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from deployer.commands.deploy import DeploySettings, HostResult, deploy
from deployer.config import load_config
from deployer.engine import Engine
from deployer.labels import Role
from deployer.progress import Progress
from deployer.resources import site_template_dir
from deployer.serve.preview import find_containers
from deployer.ship.host import remove_host
from deployer.ship.publish import PublishSettings
from deployer.site import open_site
from deployer.waiting import wait_until
from tests.acme_ca import BLOCKED, Pebble
from tests.certs import make_ca, make_leaf
from tests.conftest import SiteFactory, free_port
from tests.running import cli

pytestmark = pytest.mark.engine

NAMES = ("example.test", "www.example.test")


@dataclass
class Live:
    folder: Path
    http_port: int
    https_port: int
    roots: Path  # what a client trusts: pebble's root and intermediate (or the test CA)


def _write_config(folder: Path, http_port: int, https_port: int, tls: str) -> None:
    (folder / "sitedeploy.toml").write_text(
        f'[deploy]\nbind = "127.0.0.1"\nport = {http_port}\n\n'
        f"[tls]\nhttps_port = {https_port}\n{tls}"
    )


def _acme_tls(pebble: Pebble, names: tuple[str, ...] = NAMES) -> str:
    return (
        f"domains = {json.dumps(list(names))}\n"
        'acme_email = "ops@example.test"\n'
        f'acme_directory = "{pebble.directory}"\n'
        f'acme_ca = "{pebble.listener_ca}"\n'
        'canonical = "example.test"\n'
    )


def _deploy(engine: Engine, folder: Path) -> HostResult:
    result = deploy(
        engine, open_site(folder), load_config(folder), Progress(quiet=True),
        DeploySettings(PublishSettings()),
    )  # fmt: skip
    assert isinstance(result, HostResult)
    return result


def _mark(folder: Path, version: str) -> None:
    (folder / "index.md").write_text(f"---\nlayout: home\ntitle: Home\n---\n\nHTTPS-{version}\n")


def _context(roots: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(roots))
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def _handshake(live: Live, name: str, context: ssl.SSLContext | None = None) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", live.https_port), timeout=10)
    return (context or _context(live.roots)).wrap_socket(raw, server_hostname=name)


def _served(live: Live, name: str = NAMES[0]) -> x509.Certificate:
    """The certificate a new connection is served (verified against the roots)."""
    with _handshake(live, name) as connection:
        der = connection.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _get(live: Live, name: str, path: str) -> urllib3.BaseHTTPResponse:
    pool = urllib3.HTTPSConnectionPool(
        "127.0.0.1", live.https_port, server_hostname=name, assert_hostname=name,
        ca_certs=str(live.roots), retries=False,
    )  # fmt: skip
    return pool.request("GET", path, headers={"Host": name}, redirect=False)


@pytest.fixture(scope="module")
def acme_live(
    engine: Engine, make_site: SiteFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Live, Pebble]]:
    http_port, https_port = free_port(), free_port()
    pebble = Pebble(tmp_path_factory.mktemp("pebble"), http_port)
    pebble.start()
    folder = make_site("https")
    _write_config(folder, http_port, https_port, _acme_tls(pebble))
    try:
        _deploy(engine, folder)
        yield Live(folder, http_port, https_port, pebble.roots()), pebble
    finally:
        remove_host(engine, open_site(folder).live())
        pebble.close()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_a_certificate_for_two_names_is_got_over_acme_and_served(
    engine: Engine, acme_live: tuple[Live, Pebble], tmp_path: Path
) -> None:
    live, _pebble = acme_live
    certificate = _served(live, "www.example.test")
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sorted(names.value.get_values_for_type(x509.DNSName)) == sorted(NAMES)
    assert "Pebble" in certificate.issuer.rfc4514_string()

    home = _get(live, "example.test", "/")
    assert home.status == 200 and b"<html" in home.data.lower()
    assert home.headers["Strict-Transport-Security"] == "max-age=15552000"
    assert home.headers["Content-Security-Policy"]  # the site's own headers pass through
    # www. goes to the canonical name, path and query kept; so does plain HTTP.
    moved = _get(live, "www.example.test", "/about/?q=1")
    assert moved.status == 301
    assert moved.headers["Location"] == f"https://example.test:{live.https_port}/about/?q=1"
    plain = urllib3.PoolManager(retries=False).request(
        "GET", f"http://127.0.0.1:{live.http_port}/about/?q=1",
        headers={"Host": "example.test"}, redirect=False,
    )  # fmt: skip
    assert plain.status == 301
    assert plain.headers["Location"] == f"https://example.test:{live.https_port}/about/?q=1"

    # HTTP/2 by ALPN; TLS 1.2 with a forward-secret AEAD suite; TLS 1.1 refused.
    with _handshake(live, "example.test") as connection:
        assert connection.selected_alpn_protocol() == "h2"
        assert connection.version() == "TLSv1.3"
    tls12 = _context(live.roots)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with _handshake(live, "example.test", tls12) as connection:
        cipher = connection.cipher()
        assert connection.version() == "TLSv1.2"
        assert cipher is not None and cipher[0].startswith("ECDHE-") and "GCM" in cipher[0]
    old = _context(live.roots)
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError):
        _handshake(live, "example.test", old)

    # `status` names the certificate and when it is renewed.
    shown = cli("status", "--to", "host", "--json", str(live.folder))
    assert shown.returncode == 0, shown.stderr
    tls = json.loads(shown.stdout)["tls"]
    assert sorted(tls["certificate"]["names"]) == sorted(NAMES)
    assert tls["certificate"]["serial"] == f"{certificate.serial_number:x}"
    assert tls["renewer"] == "running" and tls["last_attempt"]["state"] == "valid"
    renew_at = dt.datetime.fromisoformat(tls["certificate"]["renew_at"])
    not_after = dt.datetime.fromisoformat(tls["certificate"]["not_after"])
    life = not_after - dt.datetime.fromisoformat(tls["certificate"]["not_before"])
    assert abs((not_after - renew_at) - life / 3) < dt.timedelta(seconds=1)
    # The key stays where only the front and the renewer read it: never in the front's image.
    renewer = find_containers(engine, open_site(live.folder).live(), Role.RENEWER)[0]
    assert renewer.attrs["Config"]["User"] == "102:101"
    assert "PRIVATE KEY" not in json.dumps(renewer.attrs)

    _chromium_trusts(live, tmp_path)


def _chromium_trusts(live: Live, home: Path) -> None:
    """Chromium, trusting pebble's root (an NSS database in a HOME of its own), opens the
    site over HTTPS by name."""
    from playwright.sync_api import sync_playwright

    from deployer.check.browser import CHROMIUM_FLAGS, find_chromium

    database = home / ".pki" / "nssdb"
    database.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{database}", "--empty-password"], check=True)
    root = live.roots.read_bytes().split(b"-----END CERTIFICATE-----")[0]
    (home / "root.pem").write_bytes(root + b"-----END CERTIFICATE-----\n")
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{database}", "-n", "pebble", "-t", "C,,",
         "-i", str(home / "root.pem")],
        check=True,
    )  # fmt: skip
    rules = ",".join(f"MAP {name} 127.0.0.1" for name in NAMES)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=find_chromium(),
            args=[*CHROMIUM_FLAGS, f"--host-resolver-rules={rules}"],
            env={"HOME": str(home)},
        )
        try:
            page = browser.new_page()
            answer = page.goto(f"https://www.example.test:{live.https_port}/about/")
            assert answer is not None and answer.ok
            assert page.url == f"https://example.test:{live.https_port}/about/"
            details = answer.security_details()
            assert details is not None and details.get("protocol") == "TLS 1.3"
        finally:
            browser.close()


def test_an_acme_refusal_is_one_clear_error_and_the_site_keeps_its_certificate(
    acme_live: tuple[Live, Pebble],
) -> None:
    live, pebble = acme_live
    before = _served(live).serial_number
    config = live.folder / "sitedeploy.toml"
    kept = config.read_text()
    _write_config(
        live.folder, live.http_port, live.https_port, _acme_tls(pebble, (*NAMES, BLOCKED))
    )
    try:
        failed = cli("deploy", str(live.folder))
    finally:
        config.write_text(kept)
    assert failed.returncode == 1
    assert "No certificate for example.test, www.example.test, blocked.test" in failed.stderr
    assert "keeps serving" in failed.stderr and "Traceback" not in failed.stderr
    assert _served(live).serial_number == before
    assert _get(live, "example.test", "/").status == 200


def test_external_account_binding_takes_its_key_from_the_environment_only(
    engine: Engine, make_site: SiteFactory, tmp_path: Path
) -> None:
    """As ZeroSSL and company CAs ask: the EAB key id in [tls], the key (a secret) only in
    SITEDEPLOY_ACME_EAB_HMAC; never in a label, an argument or the output."""
    hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
    http_port, https_port = free_port(), free_port()
    (tmp_path / "pebble").mkdir()
    pebble = Pebble(tmp_path / "pebble", http_port, eab_keys={"kid-1": hmac})
    pebble.start()
    folder = make_site("eab")
    _write_config(folder, http_port, https_port, _acme_tls(pebble) + 'acme_eab_kid = "kid-1"\n')
    live = Live(folder, http_port, https_port, pebble.roots())
    try:
        without = cli("deploy", str(folder))
        assert without.returncode == 1 and "SITEDEPLOY_ACME_EAB_HMAC is not" in without.stderr
        done = cli("deploy", str(folder), env={"SITEDEPLOY_ACME_EAB_HMAC": hmac})
        assert done.returncode == 0, done.stderr
        assert hmac not in done.stdout + done.stderr
        assert "Pebble" in _served(live).issuer.rfc4514_string()
        for container in engine.client.containers.list(all=True):
            assert hmac not in json.dumps(container.attrs)
    finally:
        remove_host(engine, open_site(folder).live())
        pebble.close()


def test_tls_alpn_01_gets_the_certificate_on_the_https_port_for_a_site_under_a_base_path(
    engine: Engine, make_site: SiteFactory, tmp_path: Path
) -> None:
    """Port 80 closed to the CA (its HTTP-01 port leads nowhere): the front's stream
    router hands the CA's acme-tls/1 handshakes the renewer's answers and every other
    connection to the HTTPS server. The site is a project site, under /project."""
    http_port, https_port = free_port(), free_port()
    (tmp_path / "pebble").mkdir()
    pebble = Pebble(tmp_path / "pebble", http_port=free_port(), tls_port=https_port)
    pebble.start()
    config = (site_template_dir() / "_config.yml").read_text()
    folder = make_site("alpn", {"_config.yml": config.replace('baseurl: ""', "baseurl: /project")})
    _write_config(
        folder, http_port, https_port, _acme_tls(pebble) + 'acme_challenge = "tls-alpn-01"\n'
    )
    live = Live(folder, http_port, https_port, pebble.roots())
    try:
        done = cli("deploy", str(folder))
        assert done.returncode == 0, done.stderr
        certificate = _served(live, "www.example.test")
        assert "Pebble" in certificate.issuer.rfc4514_string()
        page = _get(live, "example.test", "/project/")
        assert page.status == 200 and b"/project/about/" in page.data
        assert _get(live, "example.test", "/project/about/").status == 200
        assert "Strict-Transport-Security" in page.headers
        plain = requests.get(
            f"http://127.0.0.1:{http_port}/project/about/?q=1",
            headers={"Host": "example.test"}, allow_redirects=False, timeout=10,
        )  # fmt: skip
        assert plain.status_code == 301
        assert plain.headers["Location"] == f"https://example.test:{https_port}/project/about/?q=1"
        # The answers are gone once the order is done: a CA-like handshake now fails.
        acme_only = ssl.create_default_context()
        acme_only.check_hostname, acme_only.verify_mode = False, ssl.CERT_NONE
        acme_only.set_alpn_protocols(["acme-tls/1"])
        with pytest.raises(ssl.SSLError):
            _handshake(live, "example.test", acme_only).close()
        # Every other connection still reaches the HTTPS server, HTTP/2 included.
        with _handshake(live, "example.test") as connection:
            assert connection.selected_alpn_protocol() == "h2"
    finally:
        remove_host(engine, open_site(folder).live())
        pebble.close()


def test_a_given_certificate_is_served_and_a_bad_one_changes_nothing(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site("given")
    ca = make_ca(folder)
    cert, _key, serial = make_leaf(folder, ca, "site")
    live = Live(folder, free_port(), free_port(), folder / "ca.pem")
    domains = f"domains = {json.dumps(list(NAMES))}\n"
    _write_config(
        folder, live.http_port, live.https_port, domains + 'cert = "site.crt"\nkey = "site.key"\n'
    )
    _mark(folder, "v1")
    try:
        _deploy(engine, folder)
        assert _served(live, "www.example.test").serial_number == serial
        assert _get(live, "www.example.test", "/").status == 200  # no canonical name set
        assert find_containers(engine, open_site(folder).live(), Role.RENEWER) == []

        other_cert, other_key, other_serial = make_leaf(folder, ca, "other")
        expired, expired_key, _ = make_leaf(folder, ca, "expired", days=(-30, -1))
        for flags, said in (
            (["--cert", str(cert), "--key", str(other_key)], "is not the key of"),
            (["--cert", str(expired), "--key", str(expired_key)], "expired on"),
        ):
            failed = cli("deploy", str(folder), *flags)
            assert failed.returncode == 1, failed.stderr
            assert said in failed.stderr and "Nothing was changed on the server" in failed.stderr
            assert "Traceback" not in failed.stderr
            assert _served(live).serial_number == serial

        # A new version with a new certificate; a rollback then keeps HTTPS as it is.
        _mark(folder, "v2")
        second = cli("deploy", str(folder), "--cert", str(other_cert), "--key", str(other_key))
        assert second.returncode == 0, second.stderr
        assert _served(live).serial_number == other_serial
        assert b"HTTPS-v2" in _get(live, "example.test", "/").data
        rolled = cli("rollback", str(folder))
        assert rolled.returncode == 0, rolled.stderr
        assert b"HTTPS-v1" in _get(live, "example.test", "/").data
        assert _served(live).serial_number == other_serial
    finally:
        remove_host(engine, open_site(folder).live())
    # The keys stay in their volume for the next deploy; nothing serves.
    assert engine.client.volumes.get(f"{open_site(folder).live().container_name}-tls")
    with pytest.raises(OSError):
        _served(live)


def test_a_given_certificate_whose_ca_runs_an_ocsp_responder_is_stapled(
    engine: Engine, make_site: SiteFactory, tmp_path: Path
) -> None:
    """The CA's responder is OpenSSL's own (`openssl ocsp`); the verifier is `openssl
    s_client -status`, which shows the answer nginx staples to its handshake."""
    folder = make_site("ocsp")
    ca = make_ca(folder)
    ca_key = tmp_path / "ca.key"
    ca_key.write_bytes(
        ca[1].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )  # fmt: skip
    responder_port = free_port()
    cert, _key, serial = make_leaf(folder, ca, "site", ocsp=f"http://127.0.0.1:{responder_port}")
    # The chain a CA hands out: the leaf, then its issuer (which an OCSP request names).
    (folder / "chain.pem").write_bytes(cert.read_bytes() + (folder / "ca.pem").read_bytes())
    hex_serial = f"{serial:X}"
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    (tmp_path / "index.txt").write_text(
        f"V\t{expiry:%y%m%d%H%M%S}Z\t\t{hex_serial.zfill(len(hex_serial) + len(hex_serial) % 2)}"
        "\tunknown\t/CN=example.test\n"
    )
    log = (tmp_path / "ocsp.log").open("ab")
    responder = subprocess.Popen(
        ["openssl", "ocsp", "-index", str(tmp_path / "index.txt"), "-port", str(responder_port),
         "-CA", str(folder / "ca.pem"), "-rsigner", str(folder / "ca.pem"), "-rkey", str(ca_key),
         "-nmin", "10"],
        stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    live = Live(folder, free_port(), free_port(), folder / "ca.pem")
    domains = f"domains = {json.dumps(list(NAMES))}\n"
    _write_config(
        folder, live.http_port, live.https_port, domains + 'cert = "chain.pem"\nkey = "site.key"\n'
    )
    try:
        _deploy(engine, folder)
        assert _served(live).serial_number == serial

        def stapled() -> str | None:
            shown = subprocess.run(
                ["openssl", "s_client", "-connect", f"127.0.0.1:{live.https_port}",
                 "-servername", "example.test", "-status"],
                input=b"", capture_output=True, timeout=30, check=False,
            ).stdout.decode(errors="replace")  # fmt: skip
            return shown if "OCSP Response Status: successful" in shown else None

        # nginx asks the responder at the first handshake and staples from the next one.
        said = wait_until(60, stapled, "nginx to staple the OCSP answer", every=0.5)
        assert "Cert Status: good" in said
        assert _get(live, "example.test", "/").status == 200
    finally:
        remove_host(engine, open_site(folder).live())
        responder.terminate()
        responder.wait(timeout=20)


def test_a_short_lived_certificate_is_renewed_under_load_without_a_failed_request(
    engine: Engine, make_site: SiteFactory, tmp_path: Path
) -> None:
    http_port, https_port = free_port(), free_port()
    pebble = Pebble(tmp_path / "pebble", http_port, validity_seconds=30)
    (tmp_path / "pebble").mkdir()
    pebble.start()
    folder = make_site("renewal")
    _write_config(folder, http_port, https_port, _acme_tls(pebble))
    live = Live(folder, http_port, https_port, pebble.roots())
    try:
        _deploy(engine, folder)
        first = _served(live).serial_number
        fresh: Counter[str] = Counter()
        stop = threading.Event()

        def new_connections() -> None:  # a new TLS handshake for every request
            while not stop.is_set():
                try:
                    answer = _get(live, "example.test", "/")
                    fresh[str(answer.status)] += 1
                except (urllib3.exceptions.HTTPError, OSError) as error:
                    fresh[type(error).__name__] += 1

        wrk = subprocess.Popen(
            ["wrk", "-t2", "-c8", "-d600s", f"https://127.0.0.1:{https_port}/"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        prober = threading.Thread(target=new_connections)
        prober.start()
        try:
            wait_until(60, lambda: _served(live).serial_number != first, "the renewal")
            after = sum(fresh.values())
            wait_until(30, lambda: sum(fresh.values()) > after + 50, "requests after it")
        finally:
            stop.set()
            prober.join()
            wrk.send_signal(2)
            output, _ = wrk.communicate(timeout=60)
        print(f"\nrenewal under load: new connections {dict(fresh)}\nwrk: {output}")
        assert set(fresh) == {"200"}, fresh
        assert "Socket errors" not in output and "Non-2xx" not in output, output
        assert "requests in" in output
        status = json.loads(cli("status", "--to", "host", "--json", str(folder)).stdout)["tls"]
        assert status["certificate"]["serial"] == f"{_served(live).serial_number:x}"
    finally:
        remove_host(engine, open_site(folder).live())
        pebble.close()
