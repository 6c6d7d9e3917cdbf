import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from deployer.config import GemsChoice
from deployer.errors import ConfigError
from deployer.image.gems import (
    GemsWay,
    credentials_key,
    gemfile_source,
    plan_gems,
    ruby_image,
    ruby_version,
    source_credentials,
    without_credentials,
    written_gemfile,
)
from tests.conftest import free_port


class _Index(BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(200 if self.path == "/versions" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[str]:
    """A real HTTP server on loopback that answers like a compact-index gem source."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _site(tmp_path: Path, source: str, lock: str | None = None) -> Path:
    (tmp_path / "Gemfile").write_text(f'source "{source}"\ngem "jekyll"\n')
    if lock is not None:
        (tmp_path / "Gemfile.lock").write_text(lock)
    return tmp_path


def test_auto_takes_bundler_when_the_source_answers(tmp_path: Path, answering: str) -> None:
    plan = plan_gems(_site(tmp_path, answering), GemsChoice.AUTO, None)
    assert plan.way is GemsWay.BUNDLER
    assert plan.reason == f"Gems: Bundler from {answering} (Gemfile, no lock)."
    assert plan.network_host  # a source on loopback: the build shares the host's network
    assert plan.gem_files == ("Gemfile",)


def test_auto_falls_back_to_debian_and_says_why(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    plan = plan_gems(_site(tmp_path, closed), GemsChoice.AUTO, None)
    assert plan.way is GemsWay.DEBIAN
    assert plan.reason.startswith(f"Gems: Debian's packages (the gem source {closed} does not")
    with pytest.raises(ConfigError, match=r"gems = \"bundler\" .*: the gem source .* does not"):
        plan_gems(_site(tmp_path, closed), GemsChoice.BUNDLER, None)
    no_gemfile = tmp_path / "plain"
    no_gemfile.mkdir()
    assert "no Gemfile" in plan_gems(no_gemfile, GemsChoice.AUTO, None).reason


def test_a_mirror_stands_in_for_the_gemfiles_source(tmp_path: Path, answering: str) -> None:
    lock = "GEM\n  remote: https://rubygems.org/\n\nRUBY VERSION\n   ruby 3.3.4p94\n"
    plan = plan_gems(_site(tmp_path, "https://rubygems.org", lock), GemsChoice.AUTO, answering)
    assert (plan.source, plan.mirrored) == (answering, "https://rubygems.org")
    assert plan.locked and plan.gem_files == ("Gemfile", "Gemfile.lock")
    assert plan.ruby == "3.3" and ruby_image(plan.ruby) == "ruby:3.3-slim"


def test_ruby_version_from_dotfile_and_sources(tmp_path: Path) -> None:
    assert ruby_version(tmp_path) is None and ruby_image(None) == "ruby:slim"
    (tmp_path / ".ruby-version").write_text("ruby-3.2.2\n")
    assert ruby_version(tmp_path) == "3.2"
    assert gemfile_source("# no source\ngem 'jekyll'\n") == "https://rubygems.org"
    assert gemfile_source("source 'https://gems.example.com/'\n") == "https://gems.example.com"
    assert without_credentials("https://me:s3cret@gems.example.com:8443/private") == (
        "https://gems.example.com:8443/private"
    )


def test_credentials_come_from_bundlers_own_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert credentials_key("https://gems.example-co.com/private") == (
        "BUNDLE_GEMS__EXAMPLE___CO__COM"
    )
    monkeypatch.setenv("BUNDLE_GEMS__EXAMPLE___CO__COM", "me:s3cret")
    assert source_credentials("https://gems.example-co.com") == "me:s3cret"
    monkeypatch.setenv("BUNDLE_127__0__0__1", "me:s3cret")
    closed = f"http://127.0.0.1:{free_port()}"
    plan = plan_gems(_site(tmp_path, closed), GemsChoice.AUTO, None)
    assert "s3cret" not in plan.reason and "s3cret" not in repr(plan)


def test_gems_the_site_keeps_in_vendor_cache_are_installed_offline(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    site = _site(tmp_path, closed, lock="GEM\n  specs:\n")
    (site / "vendor" / "cache").mkdir(parents=True)
    (site / "vendor" / "cache" / "jekyll-x-1.0.gem").write_bytes(b"gem")
    plan = plan_gems(site, GemsChoice.AUTO, None)
    assert plan.way is GemsWay.BUNDLER and plan.local and plan.source is None
    assert (
        plan.reason == "Gems: Bundler from vendor/cache (1 gems), offline (Gemfile.lock, exactly)."
    )
    assert (plan.shown_source, plan.network_host) == ("vendor/cache", False)
    assert plan_gems(site, GemsChoice.DEBIAN, None).way is GemsWay.DEBIAN  # still the user's


def test_a_site_without_a_gemfile_gets_upstream_jekyll_where_a_source_answers(
    tmp_path: Path, answering: str
) -> None:
    plan = plan_gems(tmp_path, GemsChoice.AUTO, answering)  # the mirror stands in for RubyGems
    assert plan.way is GemsWay.BUNDLER and plan.written and plan.source == answering
    assert plan.reason.startswith(f"Gems: Bundler from {answering} (the site has no Gemfile")
    closed = f"http://127.0.0.1:{free_port()}"
    offline = plan_gems(tmp_path, GemsChoice.AUTO, closed)
    assert offline.way is GemsWay.DEBIAN
    assert offline.reason.startswith(
        f"Gems: Debian's packages (the site has no Gemfile, and the gem source {closed} does "
        "not answer"
    )
    with pytest.raises(ConfigError, match="has no Gemfile and the gem source"):
        plan_gems(tmp_path, GemsChoice.BUNDLER, closed)


def test_the_written_gemfile_names_jekyll_the_theme_and_the_plugins() -> None:
    text = written_gemfile("https://u:p@gems.example.com", "minima", ("jekyll-feed", "jemoji"))
    assert text == (
        'source "https://gems.example.com"\ngem "jekyll"\ngem "minima"\n'
        'group :jekyll_plugins do\n  gem "jekyll-feed"\n  gem "jemoji"\nend\n'
    )
    with pytest.raises(ConfigError, match="is not a gem name"):
        written_gemfile("https://rubygems.org", None, ('x"; system("boom")',))
