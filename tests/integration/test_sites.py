"""Sites shaped like the ones people have, built offline the Debian way and served for real:
a GitHub Pages site (the `github-pages` gem), a theme's own repository, Dart Sass."""

from __future__ import annotations

import json
import re

import pytest
import requests

from deployer.config import load_config
from deployer.engine import Engine
from deployer.errors import EngineError, JekyllFailed, SassUnsupported
from deployer.image.extract import read_image_file
from deployer.image.images import build_site
from deployer.progress import Progress
from deployer.site import open_site
from tests.conftest import SiteFactory
from tests.integration.conftest import deploy, served
from tests.running import cli

pytestmark = pytest.mark.engine

GITHUB_PAGES_GEMFILE = """source "https://rubygems.org"
gem "github-pages", "~> 228", group: :jekyll_plugins
group :jekyll_plugins do
  gem "jemoji"
  gem "rouge"
end
"""


def test_a_github_pages_site_builds_offline_the_way_github_does(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site(
        "ghpages",
        {
            "Gemfile": GITHUB_PAGES_GEMFILE,
            "_config.yml": "title: Project docs\ntheme: minima\nplugins: [jemoji, jekyll-feed]\n",
            "sitedeploy.toml": '[build]\nskip_plugins = ["jemoji"]\n',
            # No front matter anywhere, a README as the home page, links between .md files.
            "README.md": "# Project docs\n\nWelcome :tada:. Read the [guide](guide.md).\n",
            "guide.md": "# The guide\n\nBack to the [start](README.md).\n",
            "index.md": None,
            "about.md": None,
            "404.html": None,
            "_posts/2026-01-05-welcome-to-sitedeploy.md": None,
            "_posts/2026-02-14-a-post-with-an-image.md": None,
            "_posts/2026-03-20-notes-on-the-image.md": None,
        },
    )
    with served(engine, folder) as result:
        home = requests.get(f"{result.url}/", timeout=10).text
        assert "<title>Project docs</title>" in home  # jekyll-readme-index
        assert 'href="/guide.html"' in home  # jekyll-relative-links
        assert ":tada:" in home  # jemoji skipped: the code stays text
        guide = requests.get(f"{result.url}/guide.html", timeout=10).text
        assert "<title>The guide | Project docs</title>" in guide  # titles-from-headings
        warnings = result.images.warnings
        assert "Building without jemoji ([build] skip_plugins): :emoji: codes stay text." in (
            warnings
        )
        assert sum("jekyll-coffeescript has no Debian package" in w for w in warnings) == 1
        assert result.health.healthy and not result.health.errors


def test_a_themes_own_repository_builds_from_its_files(
    engine: Engine, make_site: SiteFactory
) -> None:
    layout = (
        "<!doctype html><html><head>{% seo %}"
        '<link rel="stylesheet" href="{{ "/assets/css/style.css" | relative_url }}"></head>'
        "<body>{% include banner.html %}{{ content }}</body></html>\n"
    )
    folder = make_site(
        "themerepo",
        {
            "_config.yml": "title: Slate demo\ntheme: jekyll-theme-slate-demo\n",
            "Gemfile": 'source "https://rubygems.org"\ngemspec\n',
            "jekyll-theme-slate-demo.gemspec": (
                "Gem::Specification.new do |s|\n"
                '  s.name = "jekyll-theme-slate-demo"\n'
                '  s.add_runtime_dependency "jekyll", "> 3.5"\n'
                '  s.add_runtime_dependency "jekyll-seo-tag", "~> 2.0"\n'
                '  s.add_development_dependency "rake"\n'
                "end\n"
            ),
            "_layouts/default.html": layout,
            "_layouts/post.html": "---\nlayout: default\n---\n<article>{{ content }}</article>\n",
            "_layouts/page.html": "---\nlayout: default\n---\n{{ content }}\n",
            "_layouts/home.html": "---\nlayout: default\n---\n{{ content }}\n",
            "_includes/banner.html": '<header class="slate-banner">{{ site.title }}</header>\n',
            "_sass/slate.scss": "$accent: #159957;\n.slate-banner { color: $accent; }\n",
            "assets/css/style.scss": '---\n---\n@import "slate";\n',
        },
    )
    with served(engine, folder) as result:
        home = requests.get(f"{result.url}/", timeout=10).text
        assert '<header class="slate-banner">Slate demo</header>' in home
        assert '<meta property="og:title"' in home  # jekyll-seo-tag, from the gemspec
        css = requests.get(f"{result.url}/assets/css/style.css", timeout=10).text
        assert ".slate-banner" in css and "#159957" in css
        assert any("the theme's own repository" in w for w in result.images.warnings)


def test_dart_sass_is_refused_before_building(engine: Engine, make_site: SiteFactory) -> None:
    folder = make_site("dartsass", {"_sass/modern.scss": '@use "sass:math";\n'})
    with pytest.raises(SassUnsupported, match=r"_sass/modern\.scss:1: uses @use"):
        deploy(engine, folder)
    assert engine.client.images.list(name=open_site(folder).repository) == []


def test_a_long_build_says_how_far_jekyll_is(engine: Engine, make_site: SiteFactory) -> None:
    """Off a terminal, `build` prints sitedeploy's progress lines from inside Jekyll."""
    posts = {
        f"_posts/2025-01-{day:02d}-post-{day}.md": f"---\ntitle: Post {day}\n---\nText {day}.\n"
        for day in range(1, 29)
    }
    folder = make_site("progress", posts)
    result = cli("build", str(folder), timeout=600)
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stderr.splitlines()]
    assert any(
        re.fullmatch(r"read \d+ pages, 31 documents, \d+ static files \(\d+ s\)", line)
        for line in lines
    ), result.stderr


def test_sass_that_imports_from_a_committed_node_modules_builds(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site(
        "nodemodules",
        {
            # How sites use Bulma or Bootstrap from npm without a build step.
            "node_modules/tinyframework/sass/_grid.scss": ".tf-grid { display: grid; }\n",
            "_sass/site.scss": '@import "tinyframework/sass/grid";\n',
            "_config.yml": "title: Framework site\ntheme: minima\n"
            "sass:\n  load_paths:\n    - _sass\n    - node_modules\n",
            "assets/site.scss": '---\n---\n@import "site";\n',
        },
    )
    with served(engine, folder) as result:
        css = requests.get(f"{result.url}/assets/site.css", timeout=10).text
        assert ".tf-grid" in css
        listing = requests.get(
            f"{result.url}/node_modules/tinyframework/sass/_grid.scss", timeout=10
        )
        assert listing.status_code == 404  # used by the build, never served


def test_before_runs_an_npm_build_through_the_proxy_with_the_hosts_ca(
    engine: Engine, make_site: SiteFactory
) -> None:
    """npm from inside the build reaches the registry only through a TLS-inspecting proxy
    here: the host's CA bundle goes in as a BuildKit secret, and the site gets its file."""
    build_script = (
        'const isNumber = require("is-number");\n'
        'require("fs").mkdirSync("assets", { recursive: true });\n'
        'require("fs").writeFileSync("assets/built.css",\n'
        "  `/* built by npm, is-number says ${isNumber(5)} */ .built { order: 1; }\\n`);\n"
    )
    folder = make_site(
        "before",
        {
            "package.json": json.dumps(
                {
                    "name": "sdtest-before",
                    "private": True,
                    "scripts": {"build": "node build.js"},
                    "devDependencies": {"is-number": "7.0.0"},
                }
            ),
            "build.js": build_script,
            "sitedeploy.toml": '[build]\nbefore = "npm install --no-audit --no-fund && '
            'npm run build"\n',
            "_config.yml": "title: npm site\ntheme: minima\nexclude: [build.js, package.json]\n",
        },
    )
    with served(engine, folder) as result:
        css = requests.get(f"{result.url}/assets/built.css", timeout=10).text
        assert "built by npm, is-number says true" in css
        with pytest.raises((FileNotFoundError, EngineError)):  # a secret, never a layer
            read_image_file(engine, result.images.builder.tag, "/run/secrets/sitedeploy-ca.crt")


def test_an_npm_build_nothing_runs_is_named_with_what_the_pages_miss(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site(
        "npmunrun",
        {
            "package.json": json.dumps({"scripts": {"build": "tailwindcss -o assets/tw.css"}}),
            "index.md": '---\nlayout: home\n---\n<link rel="stylesheet" href="/assets/tw.css">\n',
            "_config.yml": "title: Tailwind site\ntheme: minima\nexclude: [package.json]\n",
        },
    )
    with served(engine, folder) as result:
        named = [w for w in result.warnings if isinstance(w, str) and "package.json" in w]
        assert len(named) == 1
        assert named[0].startswith(
            "Pages reference files that package.json's build ('tailwindcss -o assets/tw.css') "
            f"would make, and nothing runs it: {result.url}/assets/tw.css."
        )


def test_a_ruby_symbol_in_the_config_is_named_with_its_line_and_fix(
    engine: Engine, make_site: SiteFactory
) -> None:
    """Debian's Jekyll reads YAML with Psych's safe loader, which refuses a symbol; its
    own message names no file."""
    folder = make_site("symbol", {"_config.yml": "title: Symbols\nsass:\n  style: :compressed\n"})
    with pytest.raises(JekyllFailed) as raised:
        deploy(engine, folder)
    message = raised.value.message
    assert "Tried to load unspecified class: Symbol" in message
    assert f"{folder}/_config.yml" not in message and "_config.yml:3: :compressed" in message
    assert "the offline fallback" in message and "`style: compressed`" in message


def test_a_plugin_that_calls_bundler_is_named_with_the_ways_out(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site(
        "bundlerplugin",
        {
            "Gemfile": GITHUB_PAGES_GEMFILE,
            "_config.yml": "title: Bundled\ntheme: minima\n",
            "sitedeploy.toml": '[build]\ngems = "debian"\nskip_plugins = ["jemoji"]\n',
            "_plugins/bundler.rb": 'require "bundler/setup"\nBundler.require(:jekyll_plugins)\n',
        },
    )
    with pytest.raises(JekyllFailed) as raised:
        deploy(engine, folder)
    message = raised.value.message
    assert '_plugins/bundler.rb:1: require "bundler/setup"' in message
    assert "[build] gem_mirror" in message and "rescue LoadError" in message


def test_redirect_from_pages_are_answered_with_301s(engine: Engine, make_site: SiteFactory) -> None:
    """A docs site with a collection and moved pages (jekyll-redirect-from): the old URLs
    answer 301 to the new ones, the meta-refresh page itself is still there for whoever
    asks for its file, and the check asks for every one."""
    folder = make_site(
        "redirects",
        {
            "_config.yml": (
                "title: Docs\ntheme: minima\nurl: https://docs.example.com\nbaseurl: /proj\n"
                "plugins: [jekyll-redirect-from]\n"
                "collections:\n  guides:\n    output: true\n    permalink: /guides/:name/\n"
            ),
            "_guides/install.md": (
                "---\ntitle: Install\nredirect_from:\n  - /install/\n  - /setup.html\n---\n"
                "How to install.\n"
            ),
            "moved.md": "---\ntitle: Moved\nredirect_to: https://elsewhere.example.org/x\n---\n",
            "links.md": "---\ntitle: Links\n---\n[old]({{ '/install/' | relative_url }})\n",
        },
    )
    with served(engine, folder) as result:
        root = result.url
        moved = {
            "/proj/install/": "/proj/guides/install/",
            "/proj/install": "/proj/guides/install/",
            "/proj/setup.html": "/proj/guides/install/",
            "/proj/moved.html": "https://elsewhere.example.org/x",
            "/proj/moved": "https://elsewhere.example.org/x",
        }
        for old, new in moved.items():
            answer = requests.get(root + old, allow_redirects=False, timeout=10)
            assert (answer.status_code, answer.headers.get("Location")) == (301, new), old
        page = requests.get(f"{root}/proj/install/index.html", timeout=10)
        assert page.status_code == 200 and 'http-equiv="refresh"' in page.text
        assert result.health.redirects_checked >= len(moved) + 1  # and / to /proj/
        assert not [f for f in result.health.findings if f.kind == "wrong-redirect"]
        notices = [f for f in result.health.warnings if f.kind == "redirect"]
        assert any(f.url.endswith("/proj/install/") for f in notices)
        inspected = json.loads(cli("inspect", str(folder), "--json").stdout)
        assert ["/proj/setup.html", 301, "/proj/guides/install/"] in json.loads(
            inspected["labels"]["io.sitedeploy.redirects"]
        )


STARTER_PAGES = (
    "index.md",
    "about.md",
    "404.html",
    "_posts/2026-01-05-welcome-to-sitedeploy.md",
    "_posts/2026-02-14-a-post-with-an-image.md",
    "_posts/2026-03-20-notes-on-the-image.md",
)


def test_the_debian_way_has_the_upstream_fixes_even_under_safe(
    engine: Engine, make_site: SiteFactory
) -> None:
    """Debian's Jekyll 4.3.1 gets the fixes of 4.3.2 to 4.3.4 (docker/jekyll/
    sitedeploy-fixes.rb), loaded with `ruby -r`, so `safe: true` does not stop them: the
    theme's path on the build machine no longer reaches the pages."""
    folder = make_site(
        "fixes",
        {
            "_config.yml": "title: Fixed\ntheme: minima\nsafe: true\n",
            # Debian's 4.3.1 alone writes /usr/share/rubygems-integration/…/minima-2.5.1.
            "index.html": "---\nlayout: null\n---\nROOT[{{ theme.root }}]\n",
            **dict.fromkeys(STARTER_PAGES),
        },
    )
    with served(engine, folder) as result:
        assert requests.get(f"{result.url}/", timeout=10).text.strip() == "ROOT[]"


def test_the_debian_fallback_says_how_it_differs_from_the_sites_lock(
    engine: Engine, make_site: SiteFactory
) -> None:
    lock = (
        "GEM\n  remote: https://rubygems.org/\n  specs:\n    jekyll (3.10.0)\n"
        "    jekyll-feed (0.17.0)\n    liquid (4.0.4)\n    minima (2.5.1)\n\n"
        "PLATFORMS\n  ruby\n\nDEPENDENCIES\n  jekyll (~> 3.10)\n"
    )
    folder = make_site(
        "fallback",
        {
            "Gemfile": 'source "https://rubygems.org"\ngem "jekyll", "~> 3.10"\n',
            "Gemfile.lock": lock,
            "sitedeploy.toml": '[build]\ngems = "debian"\n',
        },
    )
    images = build_site(engine, open_site(folder), load_config(folder), Progress(quiet=True))
    line = images.fallback or ""
    assert line == images.warnings[0]
    assert "jekyll 4.3.1 (the lock: 3.10.0)" in line and "liquid 5.4.0 (the lock: 4.0.4)" in line
    assert "minima" not in line  # the same version: nothing to say
