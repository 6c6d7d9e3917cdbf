"""`up` against the real engine: build, run, serve over HTTP, replace, fail safely."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import docker.errors
import pytest
import requests

from deployer.commands.check import check_url
from deployer.commands.up import up
from deployer.config import SiteConfig, load_config
from deployer.engine import Engine
from deployer.errors import JekyllFailed, PluginUnavailable, PortUnavailable
from deployer.hardening import SLOT_CONFIG, SOCKET_DIR, TMP_PATH
from deployer.labels import Label, Role
from deployer.progress import Progress
from deployer.resources import docker_dir
from deployer.serve.front import serving_now
from deployer.serve.preview import (
    EARLIER_SOCKET_PATH,
    find_containers,
    preview_status,
    stop_preview,
)
from deployer.serve.switch import UpResult, switch_to
from deployer.site import Site, open_site
from tests.conftest import SiteFactory
from tests.integration.conftest import deploy
from tests.running import cli

pytestmark = pytest.mark.engine

Deployed = tuple[Site, SiteConfig, UpResult]


def test_every_built_file_is_served_with_its_built_bytes(starter: Deployed) -> None:
    _site, _config, result = starter
    assert result.health.healthy
    assert result.built.files, "the starter site builds files"
    paths = result.built.paths()
    assert {"index.html", "about/index.html", "feed.xml", "404.html"} <= paths
    assert any(p.startswith("assets/images/") for p in paths)
    with requests.Session() as http:
        for file in result.built.files:
            response = http.get(f"{result.url}/{quote(file.path)}", timeout=10)
            assert response.status_code == 200, file.path
            assert response.content == (result.built.root / file.path).read_bytes(), file.path
        home = http.get(result.url + "/", timeout=10)
        assert "My sitedeploy site" in home.text
        about = http.get(result.url + "/about", timeout=10)
        assert about.status_code == 200 and about.url.endswith("/about/")


def test_unknown_paths_get_the_sites_404_page(starter: Deployed) -> None:
    _site, _config, result = starter
    response = requests.get(f"{result.url}/no/such/page", timeout=10)
    assert response.status_code == 404
    assert response.content == (result.built.root / "404.html").read_bytes()


def test_the_header_links_the_about_page_but_not_the_404_page(starter: Deployed) -> None:
    _site, _config, result = starter
    page = requests.get(f"{result.url}/", timeout=10).text
    nav = page[page.index('<nav class="site-nav">') : page.index("</nav>")]
    assert "About" in nav
    assert "Page not found" not in nav and "404" not in nav


def test_report_numbers(starter: Deployed) -> None:
    _site, _config, result = starter
    images = result.images
    assert 0 < images.image.size < images.builder.size / 10
    assert images.image.layers >= 2
    assert result.built.total_bytes == sum(
        (result.built.root / f.path).stat().st_size for f in result.built.files
    )
    assert result.health.files_checked == len(result.built.files)


def _listening(port: int) -> set[str]:
    """The IPv4 addresses the host listens on at `port` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(str(ipaddress.IPv4Address(bytes.fromhex(address)[::-1])))
    return found


def names(engine: Engine, site: Site, role: Role) -> list[str]:
    return [str(c.name) for c in find_containers(engine, site, role)]


def test_preview_is_published_only_where_asked_and_hardened(
    engine: Engine, starter: Deployed
) -> None:
    site, config, result = starter
    front = engine.client.containers.get(result.container)
    server = engine.client.containers.get(result.server)
    # The front listens on the host's network itself, on the address asked for only.
    assert front.attrs["HostConfig"]["NetworkMode"] == "host"
    assert front.labels[Label.ADDRESS] == f"127.0.0.1 {config.port}"
    assert _listening(config.port) == {"127.0.0.1"}
    assert server.attrs["HostConfig"]["PortBindings"]["8080/tcp"] == [
        {"HostIp": "127.0.0.1", "HostPort": ""}
    ]
    # The server's socket is in its slot: a small tmpfs volume the front mounts too; its
    # /tmp is a tmpfs of its own, as every container's.
    (slot,) = [m for m in server.attrs["Mounts"] if m["Destination"] == SOCKET_DIR]
    assert slot["Type"] == "volume" and slot["Name"].endswith("-slot-a")
    assert {m["Name"] for m in front.attrs["Mounts"]} >= {slot["Name"]}
    assert "/tmp" in server.attrs["HostConfig"]["Tmpfs"]
    for container in (front, server):
        host = container.attrs["HostConfig"]
        assert container.attrs["Config"]["User"] == "101:101"
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert "no-new-privileges:true" in host["SecurityOpt"]
        assert host["RestartPolicy"]["Name"] == "unless-stopped"
    status = preview_status(engine, site)
    assert (status.state, status.answering, status.url) == ("running", True, result.url)
    assert status.server == result.server


def test_an_image_of_an_earlier_sitedeploy_is_served_from_its_slot_in_tmp(
    engine: Engine, make_site: SiteFactory, tmp_path: Path
) -> None:
    """A `rollback` to an image built before the socket slot left /tmp: its nginx.conf
    listens in /tmp, it has no slot.conf, and its server gets the slot volume as /tmp."""
    site, config, result = deploy(engine, make_site("earlier"))
    try:
        conf = (docker_dir() / "runtime/conf/nginx.conf").read_text()
        listen = f"listen unix:{EARLIER_SOCKET_PATH}"
        earlier_conf = re.sub(r"# slot: listen unix:\S+", listen, conf)
        assert earlier_conf != conf
        (tmp_path / "nginx.conf").write_text(earlier_conf)
        (tmp_path / "Dockerfile").write_text(
            f"FROM {result.images.image.tag}\nCOPY nginx.conf /etc/nginx/nginx.conf\n"
        )
        labels = engine.client.images.get(result.images.image.tag).labels
        files = json.loads(labels[Label.SBOM_FILES])
        without = [row for row in files if row[0] != SLOT_CONFIG]  # its bill had no slot.conf
        assert len(without) == len(files) - 1
        earlier = f"{result.images.image.tag}-earlier"
        engine.client.images.build(
            path=str(tmp_path), tag=earlier, rm=True,
            labels={Label.SBOM_FILES: json.dumps(without)},
        )  # fmt: skip
        serving = serving_now(engine, site, config.host, config.port)
        assert serving is not None
        done = switch_to(
            engine, site, earlier, "earlier", lambda url: result.health, config,
            Progress(quiet=True), front_image=result.images.runtime.tag, serving=serving,
            strict=False, live_reload=False, keep_front=True,
        )  # fmt: skip
        server = engine.client.containers.get(done.server)
        (slot,) = [m for m in server.attrs["Mounts"] if m["Destination"] == TMP_PATH]
        assert slot["Type"] == "volume" and slot["Name"].endswith("-slot-b")
        answer = requests.get(f"{result.url}/.sitedeploy/front-probe", timeout=10)
        assert answer.headers["X-Served-By"] == server.attrs["Config"]["Hostname"]
        assert requests.get(result.url, timeout=10).status_code == 200
    finally:
        stop_preview(engine, site)


def test_up_again_without_changes_keeps_the_running_preview(
    engine: Engine, starter: Deployed
) -> None:
    site, config, result = starter
    again = up(engine, site, config, Progress(quiet=True))
    assert again.images.reused
    assert not again.replaced
    assert (again.container, again.server) == (result.container, result.server)
    assert names(engine, site, Role.SERVER) == [result.server]


def test_content_change_replaces_the_preview_and_keeps_one_container(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site("change")
    site, config, first = deploy(engine, folder)
    post = folder / "_posts" / "2026-01-05-welcome-to-sitedeploy.md"
    post.write_text(post.read_text() + "\nA sentence added in the test.\n")
    second = up(engine, site, config, Progress(quiet=True))
    assert second.replaced
    assert second.switch_seconds is not None
    assert second.images.image.id != first.images.image.id
    assert second.container == first.container  # the same front kept the port
    assert names(engine, site, Role.SERVER) == [second.server]
    page = requests.get(f"{second.url}/news/2026/01/05/welcome-to-sitedeploy.html", timeout=10)
    assert "A sentence added in the test." in page.text
    with pytest.raises(docker.errors.ImageNotFound):
        engine.client.images.get(first.images.image.id)  # the earlier image was pruned
    stop_preview(engine, site)


def test_liquid_error_fails_with_jekylls_message_and_keeps_the_old_preview(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site("liquid")
    site, config, before = deploy(engine, folder)
    served = requests.get(before.url + "/", timeout=10).content
    (folder / "_posts" / "2026-04-01-broken.md").write_text(
        "---\nlayout: post\ntitle: Broken\n---\n{% if site.title %}\nnever closed\n"
    )
    with pytest.raises(JekyllFailed) as raised:
        up(engine, site, config, Progress(quiet=True))
    message = raised.value.format_message()
    assert "Liquid syntax error" in message
    assert "_posts/2026-04-01-broken.md" in message
    assert "from /usr" not in message and "Traceback" not in message
    assert len(message.splitlines()) < 10
    assert requests.get(before.url + "/", timeout=10).content == served
    assert names(engine, site, Role.SERVER) == [before.server]
    stop_preview(engine, site)


def test_bad_front_matter_fails_the_build(engine: Engine, make_site: SiteFactory) -> None:
    folder = make_site("yaml", {"_posts/2026-04-02-bad.md": '---\ntitle: "unclosed\n---\nx\n'})
    with pytest.raises(JekyllFailed, match=r"YAML Exception reading _posts/2026-04-02-bad\.md"):
        deploy(engine, folder)


def test_unknown_plugin_fails_before_anything_is_built(
    engine: Engine, make_site: SiteFactory
) -> None:
    config = "title: x\ntheme: minima\nplugins:\n  - jekyll-feed\n  - jekyll-spaceship\n"
    folder = make_site("plugin", {"_config.yml": config})
    with pytest.raises(PluginUnavailable, match="plugin 'jekyll-spaceship' has no Debian package"):
        deploy(engine, folder)
    assert engine.client.images.list(name=open_site(folder).repository) == []


def test_a_taken_port_is_a_clear_error_before_building(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site("port")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = load_config(folder, {"port": port})
        with pytest.raises(PortUnavailable, match=f"Port {port} on 127.0.0.1 is already in use"):
            up(engine, open_site(folder), config, Progress(quiet=True))
    assert names(engine, open_site(folder), Role.FRONT) == []
    assert names(engine, open_site(folder), Role.SERVER) == []
    assert engine.client.images.list(name=open_site(folder).repository) == []


def test_down_removes_the_preview(engine: Engine, make_site: SiteFactory) -> None:
    site, _config, result = deploy(engine, make_site("down"))
    assert sorted(stop_preview(engine, site)) == sorted([result.container, result.server])
    assert preview_status(engine, site).state == "absent"
    with pytest.raises(requests.ConnectionError):
        requests.get(result.url, timeout=5)


MESSY_FILES: dict[str, str | bytes | None] = {
    "_config.yml": (
        "title: Messy\ntheme: minima\nbaseurl: /blog\ngems:\n  - jekyll-feed\n  - jekyll-seo-tag\n"
    ),
    "_config.extra.yml": "description: from the second config file\n",
    "Gemfile": (
        'source "https://rubygems.org"\ngemspec\ngem "jekyll", "~> 4.3"\n'
        'group :jekyll_plugins do\n  gem "jekyll-sitemap"\nend\n'
    ),
    "404.html": None,
    "assets/Ünïcode file ü.txt": "non-ASCII name\n",
    # A blog in Chinese: the file name, the title and so the URL are CJK.
    "_posts/2026-05-02-你好世界.md": "---\nlayout: post\ntitle: 你好世界\n---\n正文。\n",
    "_posts/2026-05-01-links.md": (
        "---\nlayout: nolayout\ntitle: Links\n---\n"
        "[missing](/blog/does-not-exist.html) [ok]({{ '/about/' | relative_url }})\n"
    ),
}


@pytest.fixture(scope="module")
def messy(engine: Engine, make_site: SiteFactory) -> Iterator[Deployed]:
    folder = make_site("messy", MESSY_FILES)
    (folder / "leak").symlink_to("/etc/passwd")
    deployed = deploy(engine, folder, jekyll_config=["_config.yml", "_config.extra.yml"])
    yield deployed
    stop_preview(engine, deployed[0])


def test_messy_site_builds_and_serves_under_its_baseurl(messy: Deployed) -> None:
    _site, _config, result = messy
    assert result.health.healthy
    home = requests.get(f"{result.url}/blog/", timeout=10)
    assert home.status_code == 200 and "from the second config file" in home.text
    assert requests.get(f"{result.url}/blog/sitemap.xml", timeout=10).status_code == 200
    assert requests.get(f"{result.url}/blog/feed.xml", timeout=10).status_code == 200
    unicode_url = f"{result.url}/blog/assets/{quote('Ünïcode file ü.txt')}"
    assert requests.get(unicode_url, timeout=10).text == "non-ASCII name\n"
    cjk = requests.get(f"{result.url}/blog/2026/05/02/{quote('你好世界')}.html", timeout=10)
    assert cjk.status_code == 200 and "正文。" in cjk.text
    missing = requests.get(f"{result.url}/blog/nope", timeout=10)
    assert missing.status_code == 404 and "Not found" in missing.text


def test_a_base_path_site_is_shown_at_its_base_path_and_its_root_redirects_there(
    engine: Engine, messy: Deployed
) -> None:
    site, config, result = messy
    assert result.page_url == f"{result.url}/blog/"
    root = requests.get(f"{result.url}/", allow_redirects=False, timeout=10)
    assert (root.status_code, root.headers["Location"]) == (302, "/blog/")
    assert result.health.redirects_checked == 1
    status = json.loads(cli("status", str(site.path), "--json").stdout)
    assert (status["url"], status["root_url"]) == (result.page_url, result.url)
    # The URL as printed (with the base path) checks the same files; the image's
    # redirect is checked there too, since our image serves it.
    checked = check_url(
        engine, site, config, result.page_url, Progress(quiet=True), external=False, browser=False
    )
    assert (checked.redirects_checked, checked.files_checked) == (1, result.health.files_checked)
    assert checked.errors == [f for f in checked.errors if f.kind == "broken-link"]


def test_messy_site_warnings_are_reported_not_swallowed(messy: Deployed) -> None:
    _site, _config, result = messy
    warnings = " | ".join(result.images.warnings)
    assert "`gems:` key is deprecated" in warnings
    assert "Build Warning: Layout 'nolayout' requested in _posts/2026-05-01-links.md" in warnings
    assert "leak is a symbolic link to /etc/passwd" in warnings
    # A dead link is the site's defect: a warning for `up`, not a failure.
    broken = [w for w in result.health.warnings if w.kind == "broken-link"]
    assert [w.url for w in broken] == [f"{result.url}/blog/does-not-exist.html"]
    assert broken[0].referrer and "links.html line" in broken[0].referrer
    assert result.health.errors == []


def test_messy_site_folder_is_left_as_it_was(messy: Deployed) -> None:
    site, _config, result = messy
    assert not (site.path / "Gemfile.lock").exists()
    assert not (site.path / "_site").exists()
    assert not (site.path / ".jekyll-cache").exists()
    assert "leak" not in result.built.paths()
    assert not any(
        "root:x:0:0" in (result.built.root / f.path).read_text(errors="replace")
        for f in result.built.files
        if f.size < 100_000
    )


def test_classic_builder_builds_the_same_site(engine: Engine, make_site: SiteFactory) -> None:
    folder = make_site("classic")
    site, _config, result = deploy(engine, folder, engine="classic")
    assert result.images.builder_name.startswith("classic")
    assert result.health.healthy
    assert {"index.html", "about/index.html", "feed.xml"} <= result.built.paths()
    stop_preview(engine, site)
