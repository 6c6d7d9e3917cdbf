"""The front's files: its nginx.conf (docker/front.conf.in; with watch mode's live reload)
and the configuration volume it starts with (nginx.conf and the live link to a socket slot).
"""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass
from string import Template

from deployer import __version__
from deployer.hardening import CONTAINER_PORT, SOCKET_DIR, SOCKET_NAME, USER_ID
from deployer.resources import docker_dir
from deployer.site import Site

CONFIG_DIR = "/etc/sitedeploy/front"
SLOTS_DIR = SOCKET_DIR  # the front mounts slot X at SLOTS_DIR/X
SLOTS = ("a", "b")
LIVE_DIR = f"{CONFIG_DIR}/live"  # nginx's (UID 101): the helper renames the link in it
LIVE_LINK = f"{LIVE_DIR}/site.sock"
PROBE_PATH = "/.sitedeploy/front-probe"  # the live link's server, past the front's pool
TLS_DIR = "/etc/sitedeploy/tls"  # a live front's certificate volume (read-only to it)
TLS_FILE = f"{TLS_DIR}/live/site.pem"  # the key, then the chain: read at each handshake
CHALLENGES_DIR = f"{TLS_DIR}/challenges"  # HTTP-01 answers the renewer writes
ALPN_DIR = f"{TLS_DIR}/alpn"  # TLS-ALPN-01 answers: NAME.pem, a key and its certificate
HTTPS_SOCKET = "/tmp/sitedeploy-https.sock"  # with TLS-ALPN-01: the HTTPS server
ALPN_SOCKET = "/tmp/sitedeploy-acme-tls.sock"  # … and ACME's answers


def tls_volume(site: Site) -> str:
    """A live site's certificate volume: the renewer writes it, the front only reads it."""
    return f"{site.container_name}-tls"


def slot_socket(slot: str) -> str:
    """Where the front finds the socket of the server in `slot`."""
    return f"{SLOTS_DIR}/{slot}/{SOCKET_NAME}"


def _render(template: str, **values: object) -> str:
    text = (docker_dir() / template).read_text(encoding="utf-8")
    return Template(text).substitute(version=__version__, **values)


def listen_address(
    host: str, port: int, on_host_network: bool, inside: int = CONTAINER_PORT
) -> str:
    """What nginx listens on: host:port on the host's network, else the container's port."""
    if not on_host_network:
        return str(inside)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class FrontTls:
    """HTTPS in a live site's front. Port 80 (the front's HTTP port) always answers ACME's
    HTTP-01 challenges from the certificate volume; once a certificate is in place
    (`certificate`), it sends everything else to https with a 301, and the HTTPS port
    serves the site."""

    https_port: int  # where visitors connect (443 unless said)
    certificate: bool  # a certificate is in the volume
    alpn: bool = False  # ACME's TLS-ALPN-01 is answered on the HTTPS port (see _STREAM)
    stapled: str | None = None  # a given certificate's serial, when it names an OCSP responder
    hsts: str | None = None  # the Strict-Transport-Security value (None: not sent)
    canonical: str | None = None  # the name every other name 301s to

    def redirect_to(self) -> str:
        """The https origin a request is sent to (nginx variables in it)."""
        suffix = "" if self.https_port == 443 else f":{self.https_port}"
        return f"https://{self.canonical or '$host'}{suffix}"


# Watch mode: a page a browser asks for (Accept: text/html) gets a script that asks for
# the page again every 250 ms (as any other client: through the front's pool of
# connections, so never ahead of what a reload would get, and without the script) and
# reloads it when its bytes changed. (nginx's brotli_static sends no ETag to compare.)
# Only there: other clients (`sitedeploy check`, curl) get the site's bytes as they are,
# and the image never has it.
LIVE_RELOAD_PATH = "/.sitedeploy/livereload.js"
LIVE_RELOAD_JS = (
    '(function(){var seen=null;function poll(){fetch(location.href,{cache:"no-store"})'
    ".then(function(r){return r.text()}).then(function(now){if(seen!==null&&now!==seen){"
    "location.reload();return}seen=now;setTimeout(poll,250)},function(){setTimeout(poll,1000)"
    "})}poll()})();"
)
_LIVE_RELOAD_MAPS = """
    # Watch mode: pages for browsers get the live reload script (see below).
    map $http_accept $sitedeploy_reload_tag {
        default "";
        "~text/html" '<script src="PATH"></script>';
    }
    map $http_accept $sitedeploy_upstream_encoding {
        default $http_accept_encoding;
        "~text/html" "";  # sub_filter needs the page uncompressed
    }"""
_LIVE_RELOAD_FILTER = """
            proxy_set_header Accept-Encoding $sitedeploy_upstream_encoding;
            sub_filter "</body>" "$sitedeploy_reload_tag</body>";
            sub_filter_once on;"""
_LIVE_RELOAD_SCRIPT = """
        location = PATH {
            default_type application/javascript;
            charset utf-8;
            add_header Cache-Control "no-store" always;
            return 200 'SCRIPT';
        }"""


INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
)
# Mozilla's "intermediate" profile (TLS 1.2 and 1.3; forward-secret AEAD suites; the DHE
# ones left out, as nginx here has no DH parameters). The key and chain are one file, read
# at each handshake (a variable names it): the renewer replaces it in one rename and new
# connections get the new certificate without a reload, which would close idle keep-alive
# connections. nginx staples OCSP answers only for certificates it loads at start, so a
# given certificate whose CA runs an OCSP responder is loaded so (FrontTls.stapled; a new
# one comes with a deploy, and a reload); ACME's, renewed in place, are not stapled.
_TLS_SETTINGS = """
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers CIPHERS;
    ssl_prefer_server_ciphers off;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_session_timeout 1d;
    ssl_session_cache shared:TLS:10m;
    ssl_session_tickets off;
    map $ssl_server_name $sitedeploy_certificate {
        default "FILE";
    }"""
_PROXY = """
            proxy_pass http://site;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_redirect off;
            proxy_buffering on;
            proxy_max_temp_file_size 0;
            proxy_connect_timeout 5s;
            proxy_next_upstream error timeout;"""
# Which container the link leads to now, asked on a fresh connection (not one of the
# pool's): sitedeploy waits for the new container here after switching.
_PROBE = """
        location = PROBE {
            proxy_pass http://unix:LIVE:/.sitedeploy/health;
            proxy_http_version 1.1;
        }"""
_CHALLENGES = f"""
        location ^~ /.well-known/acme-challenge/ {{
            alias {CHALLENGES_DIR}/;
            default_type text/plain;
        }}"""


# A swarm: each node's renewer answers its own orders, but the CA may ask any node (DNS
# names them all), so an answer this node lacks is asked of the other fronts, each in
# turn until one has it; a front asked so answers from its own volume only.
_PEER_CHALLENGES = f"""
        location ^~ /.well-known/acme-challenge/ {{
            alias {CHALLENGES_DIR}/;
            default_type text/plain;
            error_page 404 = @peers;
        }}
        location @peers {{
            if ($http_x_sitedeploy_peer) {{
                return 404;
            }}
            set $sitedeploy_peers "PEERS";
            proxy_pass http://$sitedeploy_peers:PORT;
            proxy_set_header Host $http_host;
            proxy_set_header X-Sitedeploy-Peer 1;
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout http_404;
            proxy_next_upstream_tries 0;
        }}"""


def peer_challenges(peers: str, port: int) -> str:
    """ACME's answers from this node's volume, else from the fronts `peers` (a DNS name
    for all of them) on `port`."""
    return _PEER_CHALLENGES.replace("PEERS", peers).replace("PORT", str(port))


# TLS-ALPN-01 (RFC 8737: the CA connects to the HTTPS port offering only the protocol
# acme-tls/1, and expects a certificate the renewer made for the name it asks). nginx's
# stream module reads the client's hello without answering it (ssl_preread): the CA's
# connections go to a TLS server with the renewer's answers, every other one — with its
# client's address, in the PROXY protocol — to the HTTPS server, on a socket. Only a
# front using TLS-ALPN-01 loads the module (and pays the extra hop).
_STREAM_MODULE = "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n"
_STREAM = f"""
stream {{
    map $ssl_preread_alpn_protocols $sitedeploy_tls_route {{
        "acme-tls/1" unix:{ALPN_SOCKET};
        default unix:{HTTPS_SOCKET};
    }}
    map $ssl_server_name $sitedeploy_alpn_answer {{
        "~^[a-z0-9.-]+$" {ALPN_DIR}/$ssl_server_name.pem;
        default {ALPN_DIR}/none;
    }}
    server {{
        listen LISTEN;
        ssl_preread on;
        proxy_pass $sitedeploy_tls_route;
        proxy_protocol on;
        proxy_connect_timeout 5s;
    }}
    server {{
        listen unix:{ALPN_SOCKET} ssl proxy_protocol;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_alpn acme-tls/1;
        ssl_certificate $sitedeploy_alpn_answer;
        ssl_certificate_key $sitedeploy_alpn_answer;
        return "";
    }}
}}
"""
# The HTTPS server behind the stream module: the client's address from the PROXY header.
_BEHIND_STREAM = """
        set_real_ip_from unix:;
        real_ip_header proxy_protocol;"""


def _server(listen: str, body: str) -> str:
    return f"\n    server {{\n        listen {listen};{body}\n    }}\n"


def tls_settings(certificate_file: str = TLS_FILE) -> str:
    """The http block's TLS settings; `certificate_file` (the key, then the chain) is read
    at each handshake."""
    return _TLS_SETTINGS.replace("CIPHERS", ":".join(INTERMEDIATE_CIPHERS)).replace(
        "FILE", certificate_file
    )


def tls_servers(
    http: str,
    https: str,
    tls: FrontTls,
    site: str,
    *,
    on_http: str = "",
    on_https: str = "",
    challenges: str | None = None,
    until_certificate: tuple[str, str] | None = None,
    certificate_file: str = TLS_FILE,
) -> str:
    """A front's two servers once its certificate is in place: on `http`, ACME's answers
    (`challenges`, else from the certificate volume) and `on_http`, and a 301 to https for
    the rest; on `https`, the site (its `location /` block: `site`), HSTS, the canonical
    name. With `until_certificate` (a file, and the site's proxy directives), HTTP serves
    the site until that file exists (a swarm node whose renewer is still at work). A
    stapled certificate is loaded from `certificate_file` at start."""
    to = f"{tls.redirect_to()}$request_uri"
    redirect = f"\n        location / {{\n            return 301 {to};\n        }}"
    if until_certificate is not None:
        certificate, proxy = until_certificate
        redirect = (
            f"\n        location / {{\n            if (-f {certificate}) {{"
            f"\n                return 301 {to};\n            }}{proxy}\n        }}"
        )
    secure = (
        "\n        ssl_certificate $sitedeploy_certificate;"
        "\n        ssl_certificate_key $sitedeploy_certificate;"
    )
    if tls.stapled:  # nginx asks the responder itself (named in the certificate)
        secure = (
            f"\n        # certificate {tls.stapled}: loaded at start, so its OCSP status is stapled"
            f"\n        ssl_certificate {certificate_file};"
            f"\n        ssl_certificate_key {certificate_file};"
            "\n        ssl_stapling on;"
        )
    if tls.hsts:  # the front's, not the site's [headers] one as well
        secure += "\n        proxy_hide_header Strict-Transport-Security;"
        secure += f'\n        add_header Strict-Transport-Security "{tls.hsts}" always;'
    if tls.canonical:
        secure += (
            f'\n        if ($host != "{tls.canonical}") {{'
            f"\n            return 301 {to};\n        }}"
        )
    answers = _CHALLENGES if challenges is None else challenges
    if tls.alpn:  # behind the stream module's router (see _STREAM)
        https, secure = f"unix:{HTTPS_SOCKET} proxy_protocol", _BEHIND_STREAM + secure
    return _server(f"{http} default_server", answers + on_http + redirect) + _server(
        f"{https} ssl http2 default_server", secure + site + on_https
    )


def _servers(http: str, https: str, tls: FrontTls | None, live_reload: bool) -> str:
    probe = _PROBE.replace("PROBE", PROBE_PATH).replace("LIVE", LIVE_LINK)
    site = (
        f"\n        location / {{{_PROXY}{_LIVE_RELOAD_FILTER if live_reload else ''}\n        }}"
    )
    script = ""
    if live_reload:
        script = _LIVE_RELOAD_SCRIPT.replace("PATH", LIVE_RELOAD_PATH)
        script = script.replace("SCRIPT", LIVE_RELOAD_JS)
    if tls is None:
        return _server(f"{http} default_server", site + probe + script)
    if not tls.certificate:  # until there is one: the site over HTTP, and ACME's answers
        return _server(f"{http} default_server", _CHALLENGES + site + probe)
    own = f"\n        location ^~ /.sitedeploy/ {{{_PROXY}\n        }}"
    return tls_servers(http, https, tls, site, on_http=own + probe, on_https=probe)


def render_front_config(
    listen: str, *, live_reload: bool = False, tls: FrontTls | None = None, https_listen: str = ""
) -> str:
    """The front's nginx.conf (with `live_reload`: watch mode's reload script; with `tls`:
    a live site's HTTPS on `https_listen`)."""
    maps = _LIVE_RELOAD_MAPS.replace("PATH", LIVE_RELOAD_PATH) if live_reload else ""
    alpn = tls is not None and tls.alpn
    return _render(
        "front.conf.in",
        modules=_STREAM_MODULE if alpn else "",
        stream=_STREAM.replace("LISTEN", https_listen) if alpn else "",
        live=LIVE_LINK,
        live_reload_maps=maps,
        tls_settings=tls_settings() if tls is not None and tls.certificate else "",
        servers=_servers(listen, https_listen, tls, live_reload).strip("\n"),
    )


def config_archive(config: str, server_slot: str | None = None) -> bytes:
    """The front's configuration volume: nginx.conf (root's, read-only to nginx) and, for
    a new front, the live link to `server_slot`, in a folder nginx's user may rename in."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = config.encode()
        info = tarfile.TarInfo("nginx.conf")
        info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
        archive.addfile(info, io.BytesIO(data))
        if server_slot is not None:
            folder = tarfile.TarInfo(LIVE_DIR.rsplit("/", 1)[1])
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            folder.uid = folder.gid = USER_ID
            archive.addfile(folder)
            link = tarfile.TarInfo(f"{folder.name}/{LIVE_LINK.rsplit('/', 1)[1]}")
            link.type, link.linkname = tarfile.SYMTYPE, slot_socket(server_slot)
            link.uid = link.gid = USER_ID
            archive.addfile(link)
    return buffer.getvalue()
