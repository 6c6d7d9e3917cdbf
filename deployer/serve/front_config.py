"""The front's files: its nginx.conf (docker/front.conf.in; with watch mode's live reload)
and the configuration volume it starts with (nginx.conf and the live link to a socket slot).
"""

from __future__ import annotations

import io
import tarfile
import time
from string import Template

from deployer import __version__
from deployer.hardening import CONTAINER_PORT, USER_ID
from deployer.resources import docker_dir

CONFIG_DIR = "/etc/sitedeploy/front"
SLOTS_DIR = "/run/sitedeploy"
SLOTS = ("a", "b")
LIVE_DIR = f"{CONFIG_DIR}/live"  # nginx's (UID 101): the helper renames the link in it
LIVE_LINK = f"{LIVE_DIR}/site.sock"
PROBE_PATH = "/.sitedeploy/front-probe"  # the live link's server, past the front's pool


def slot_socket(slot: str) -> str:
    """Where the front finds the socket of the server in `slot`."""
    return f"{SLOTS_DIR}/{slot}/sitedeploy.sock"


def _render(template: str, **values: object) -> str:
    text = (docker_dir() / template).read_text(encoding="utf-8")
    return Template(text).substitute(version=__version__, **values)


def listen_address(host: str, port: int, on_host_network: bool) -> str:
    if not on_host_network:
        return str(CONTAINER_PORT)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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


def render_front_config(listen: str, *, live_reload: bool = False) -> str:
    """The front's nginx.conf (with `live_reload`: watch mode's reload script)."""
    script = LIVE_RELOAD_JS
    pieces = {
        "live_reload_maps": _LIVE_RELOAD_MAPS.replace("PATH", LIVE_RELOAD_PATH),
        "live_reload_filter": _LIVE_RELOAD_FILTER,
        "live_reload_script": _LIVE_RELOAD_SCRIPT.replace("PATH", LIVE_RELOAD_PATH).replace(
            "SCRIPT", script
        ),
    }
    if not live_reload:
        pieces = dict.fromkeys(pieces, "")
    return _render("front.conf.in", listen=listen, live=LIVE_LINK, probe=PROBE_PATH, **pieces)


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
