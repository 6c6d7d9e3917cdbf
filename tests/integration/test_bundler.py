"""Bundler builds against a real gem source on loopback (tests/gemsource.py): real gems made
with `gem build`, a site whose Gemfile (and Gemfile.lock) use a theme gem and a plugin gem
Debian does not package; the rest resolves from the Debian packages the builder has."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from deployer.config import GemsChoice, load_config
from deployer.engine import Engine
from deployer.errors import GemsFailed
from deployer.image.extract import read_image_file
from deployer.image.gems import plan_gems
from deployer.image.images import build_site
from deployer.labels import Label, content_tag
from deployer.progress import Progress
from deployer.provenance.inspect import inspect_image
from deployer.serve.preview import stop_preview
from deployer.serve.switch import UpResult
from deployer.site import Site, builder_tag, open_site
from tests.conftest import SiteFactory, free_port
from tests.gemsource import (
    PLUGIN,
    PLUGIN_CODE,
    THEME,
    THEME_FILES,
    GemSource,
    build_gem,
    start_gem_source,
)
from tests.integration.conftest import deploy
from tests.running import Running

pytestmark = pytest.mark.engine


def gemfile(source: GemSource, *extra: str) -> str:
    lines = [
        f'source "{source.url}"',
        'gem "jekyll", "~> 4.3"',
        f'gem "{THEME}", "0.1.0"',
        "group :jekyll_plugins do",
        f'  gem "{PLUGIN}"',
        '  gem "jekyll-feed"',
        *extra,
        "end",
    ]
    return "\n".join(lines) + "\n"


def bundler_site(make_site: SiteFactory, source: GemSource, name: str, **files: str) -> Path:
    config = (
        "title: Gems from a source\ntheme: jekyll-theme-sdtest\n"
        f"plugins:\n  - jekyll-feed\n  - {PLUGIN}\n"
    )
    page = "---\nlayout: page\ntitle: About\npermalink: /about/\n---\n{% sdtest_hello %}\n"
    return make_site(
        name,
        {"Gemfile": gemfile(source), "_config.yml": config, "about.md": page, **files},
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GemSource]:
    running = start_gem_source(tmp_path_factory.mktemp("gems"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def bundled(
    engine: Engine, make_site: SiteFactory, source: GemSource
) -> Iterator[tuple[Site, UpResult]]:
    site, _config, result = deploy(engine, bundler_site(make_site, source, "bundler"))
    yield site, result
    stop_preview(engine, site)


def test_a_gemfile_site_builds_with_bundler_from_the_gem_source(
    bundled: tuple[Site, UpResult], source: GemSource
) -> None:
    _site, result = bundled
    about = requests.get(f"{result.url}/about/", timeout=10).text
    assert "<p>Hello from a gem</p>" in about  # the plugin gem's Liquid tag
    assert '<header class="sdtest-theme">Gems from a source</header>' in about  # theme gem
    css = requests.get(f"{result.url}/assets/theme.css", timeout=10).text
    assert "#123456" in css  # the theme gem's Sass
    gems = result.images.gems
    assert gems is not None and gems.way == "bundler"
    assert gems.reason == f"Gems: Bundler from {source.url} (Gemfile, no lock)."
    assert f"GET /gems/{PLUGIN}-0.1.0.gem" in source.requests
    assert result.health.healthy


def test_every_resolved_gem_is_recorded_with_its_version_and_origin(
    engine: Engine, bundled: tuple[Site, UpResult], source: GemSource
) -> None:
    _site, result = bundled
    found = inspect_image(engine, result.images.image.tag)
    assert found.labels[Label.GEMS_WAY] == "bundler"
    gems = {gem["name"]: gem for gem in found.sbom["gems"]}
    assert gems[PLUGIN] == {"name": PLUGIN, "version": "0.1.0", "origin": f"{source.url}/"}
    assert gems["jekyll"]["origin"] == "debian"  # resolved against Debian's package
    assert (PLUGIN, f"{source.url}/") in {(g.name, g.origin) for g in result.images.gems_used}
    assert json.loads(found.labels[Label.GEMS])


def test_a_content_only_rebuild_installs_nothing_and_asks_no_gem_source(
    engine: Engine, bundled: tuple[Site, UpResult], source: GemSource
) -> None:
    site, _result = bundled
    (site.path / "about.md").write_text(
        "---\nlayout: page\ntitle: About\npermalink: /about/\n---\nEdited. {% sdtest_hello %}\n"
    )
    source.requests.clear()
    rebuilt = build_site(engine, site, load_config(site.path), Progress(quiet=True))
    assert not rebuilt.reused
    assert "Edited. Hello from a gem" in (rebuilt.built.root / "about/index.html").read_text()
    # Only sitedeploy's own question before building: is the source there?
    assert all(request.startswith("HEAD ") for request in source.requests), source.requests


def test_a_lock_is_installed_exactly_and_a_wrong_one_is_a_clear_error(
    engine: Engine, bundled: tuple[Site, UpResult], make_site: SiteFactory, source: GemSource
) -> None:
    site, result = bundled
    lock = read_image_file(
        engine, builder_tag(site, content_tag(result.images.content_hash)), "/site/src/Gemfile.lock"
    ).decode()
    assert f"{PLUGIN} (0.1.0)" in lock

    locked = bundler_site(make_site, source, "locked", **{"Gemfile.lock": lock})
    images = build_site(engine, open_site(locked), load_config(locked), Progress(quiet=True))
    assert images.gems is not None and images.gems.locked
    assert "Gemfile.lock, exactly" in images.gems.reason

    pinned = bundler_site(
        make_site,
        source,
        "pinned",
        **{"Gemfile.lock": lock.replace(f"{PLUGIN} (0.1.0)", f"{PLUGIN} (9.9.9)")},
    )
    with pytest.raises(GemsFailed, match=r"(?s)9\.9\.9.*no gem source here has"):
        build_site(engine, open_site(pinned), load_config(pinned), Progress(quiet=True))

    changed = bundler_site(make_site, source, "changed", **{"Gemfile.lock": lock})
    (changed / "Gemfile").write_text(gemfile(source, '  gem "jekyll-sitemap"'))
    with pytest.raises(GemsFailed, match=r"Gemfile\.lock does not match Gemfile"):
        build_site(engine, open_site(changed), load_config(changed), Progress(quiet=True))


def test_a_source_that_needs_a_login_gets_it_from_bundlers_variable_only(
    engine: Engine,
    make_site: SiteFactory,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    private = start_gem_source(tmp_path_factory.mktemp("private"), login=("deploy", "s3cret-pw"))
    try:
        folder = bundler_site(make_site, private, "private")
        site = open_site(folder)
        plan = plan_gems(folder, GemsChoice.AUTO, None)  # no login: 401, and what to set
        assert plan.way == "debian" and "set BUNDLE_127__0__0__1=user:password" in plan.reason

        monkeypatch.setenv("BUNDLE_127__0__0__1", "deploy:s3cret-pw")
        images = build_site(engine, site, load_config(folder), Progress(quiet=True))
        assert "<p>Hello from a gem</p>" in (images.built.root / "about/index.html").read_text()
        assert f"GET /gems/{PLUGIN}-0.1.0.gem" in private.requests
        # The password is in no label, no layer's command, no file of the builder image.
        image = engine.client.images.get(images.builder.tag)
        assert "s3cret" not in json.dumps(image.labels)
        assert all("s3cret" not in layer.created_by for layer in engine.history(str(image.id)))
        for path in ("/site/src/Gemfile.lock", "/site/gems.tsv"):
            assert b"s3cret" not in read_image_file(engine, images.builder.tag, path)
    finally:
        private.stop()


def test_a_bundler_site_is_watched_with_its_gems_loaded_once(
    engine: Engine, make_site: SiteFactory, source: GemSource
) -> None:
    """`up --watch` on a Gemfile site: the hot builder runs Jekyll under `bundle exec` with
    the gems the build installed (the plugin's tag, the theme's layout), asks the gem source
    nothing per save, and serves an edited page first."""
    folder = bundler_site(make_site, source, "watched")
    url = f"http://127.0.0.1:{free_port()}"
    run = Running("up", str(folder), "--port", url.rsplit(":", 1)[1], "--watch")
    try:
        run.wait_for("Watching")
        source.requests.clear()
        about = folder / "about.md"
        about.write_text(
            about.read_text().replace("{% sdtest_hello %}", "WATCHED {% sdtest_hello %}")
        )
        run.wait_for("Whole site regenerated and served")
        assert any("Serving the edited pages" in line for line in run.output), "".join(run.output)
        served = requests.get(f"{url}/about/", timeout=10).text
        assert "WATCHED Hello from a gem" in served
        assert '<header class="sdtest-theme">' in served
        assert not source.requests, source.requests
    finally:
        run.interrupt()
    stop_preview(engine, open_site(folder))


def test_gems_kept_in_vendor_cache_build_offline_with_bundler(
    engine: Engine, make_site: SiteFactory, tmp_path: Path
) -> None:
    """Bundler's own offline convention (`bundle cache`): the site carries its gems, the
    Gemfile's source does not answer, and the build installs them with `--local`; the gems
    Debian packages (Jekyll, jekyll-feed) come from Debian."""
    dead = GemSource(tmp_path / "never-started")  # the Gemfile's source: it does not answer
    folder = bundler_site(make_site, dead, "vendored")
    cache = folder / "vendor" / "cache"
    cache.mkdir(parents=True)
    for name, files in ((PLUGIN, {f"lib/{PLUGIN}.rb": PLUGIN_CODE}), (THEME, THEME_FILES)):
        build_gem(tmp_path / "gems", name, "0.1.0", files, ["jekyll"]).rename(
            cache / f"{name}-0.1.0.gem"
        )
    (folder / "vendor" / "bundle").mkdir()
    (folder / "vendor" / "bundle" / "left-out.txt").write_text("installed gems stay out")
    site, _config, result = deploy(engine, folder)
    try:
        gems = result.images.gems
        assert gems is not None and gems.local
        assert (
            gems.reason == "Gems: Bundler from vendor/cache (2 gems), offline (Gemfile, no lock)."
        )
        about = requests.get(f"{result.url}/about/", timeout=10).text
        assert "<p>Hello from a gem</p>" in about
        origins = {gem.name: gem.origin for gem in result.images.gems_used}
        assert origins["jekyll"] == "debian" and origins["jekyll-feed"] == "debian"
        assert "bundle install --local --no-cache" in result.images.dockerfile
    finally:
        stop_preview(engine, site)


def test_a_site_without_a_gemfile_is_built_with_bundler_where_a_source_answers(
    engine: Engine, make_site: SiteFactory, source: GemSource
) -> None:
    """What `gem install jekyll` and the plugins would get: sitedeploy writes the Gemfile;
    Debian's packages are only the offline fallback. (Here the source has no Jekyll, so it
    resolves from Debian's package; with RubyGems it is upstream Jekyll.)"""
    folder = make_site(
        "nogemfile",
        {
            "_config.yml": f"title: No Gemfile\ntheme: minima\nplugins:\n  - {PLUGIN}\n",
            "sitedeploy.toml": f'[build]\ngem_mirror = "{source.url}"\n',
            "about.md": (
                "---\nlayout: page\ntitle: About\npermalink: /about/\n---\n{% sdtest_hello %}\n"
            ),
        },
    )
    site, _config, result = deploy(engine, folder)
    try:
        gems = result.images.gems
        assert gems is not None and gems.written and gems.way == "bundler"
        assert "Hello from a gem" in requests.get(f"{result.url}/about/", timeout=10).text
        assert f"GET /gems/{PLUGIN}-0.1.0.gem" in source.requests
        assert "written by sitedeploy" in result.images.dockerfile
        assert not (folder / "Gemfile").exists()  # nothing written into the site folder
    finally:
        stop_preview(engine, site)


PIPELINE = "jekyll-sdtest-pipeline"  # a plugin that needs html-pipeline, which Debian packages
PIPELINE_CODE = """require "jekyll"
require "html/pipeline"

Liquid::Template.register_tag("sdtest_pipeline", Class.new(Liquid::Tag) do
  def render(_context)
    "html-pipeline #{HTML::Pipeline::VERSION}"
  end
end)
"""


def test_every_gem_of_the_bundle_debian_packages_comes_from_debian(
    engine: Engine, make_site: SiteFactory, source: GemSource, tmp_path: Path
) -> None:
    """The mirror serves only what Debian lacks: a plugin whose own dependency
    (html-pipeline) the Gemfile does not name, and the mirror does not have, still builds —
    from Debian's package. A committed .bundle/config cannot hide Debian's gems."""
    source.add(
        build_gem(tmp_path, PIPELINE, "0.1.0", {f"lib/{PIPELINE}.rb": PIPELINE_CODE},
                  ["jekyll", "html-pipeline"])
    )  # fmt: skip
    folder = bundler_site(
        make_site, source, "debiandeps",
        Gemfile=gemfile(source, f'  gem "{PIPELINE}"'),
        **{
            "index.md": "---\nlayout: home\n---\n{% sdtest_pipeline %}\n",
            ".bundle/config": '---\nBUNDLE_PATH: "vendor/bundle"\nBUNDLE_DEPLOYMENT: "true"\n',
        },
    )  # fmt: skip
    source.requests.clear()
    site, _config, result = deploy(engine, folder)
    try:
        assert "html-pipeline 2." in requests.get(f"{result.url}/", timeout=10).text
        origins = {gem.name: gem.origin for gem in result.images.gems_used}
        assert origins["html-pipeline"] == "debian" and origins[PIPELINE] == f"{source.url}/"
        assert not [r for r in source.requests if "html-pipeline" in r and "/gems/" in r]
    finally:
        stop_preview(engine, site)
