from datetime import UTC, datetime
from pathlib import Path

import pytest

from deployer.errors import ConfigError, PluginUnavailable
from deployer.image.jekyll_config import content_time
from deployer.image.plugins import BASE_PACKAGES, gemfile_plugins, read_requirements


def site(tmp_path: Path, config: str, gemfile: str | None = None) -> Path:
    (tmp_path / "_config.yml").write_text(config)
    if gemfile is not None:
        (tmp_path / "Gemfile").write_text(gemfile)
    return tmp_path


def test_theme_and_plugins_map_to_debian_packages(tmp_path: Path) -> None:
    need = read_requirements(site(tmp_path, "theme: minima\nplugins: [jekyll-feed, jekyll-toc]\n"))
    assert need.packages[: len(BASE_PACKAGES)] == BASE_PACKAGES
    assert "jekyll-theme-minima" in need.packages
    assert {"ruby-jekyll-feed", "ruby-jekyll-toc"} <= set(need.packages)
    assert need.plugins == ("jekyll-feed", "jekyll-toc")
    assert need.theme == "minima"


def test_legacy_gems_key_is_honoured_with_a_warning(tmp_path: Path) -> None:
    need = read_requirements(site(tmp_path, "gems:\n  - jekyll-sitemap\n"))
    assert need.plugins == ("jekyll-sitemap",)
    assert any("`gems:` key is deprecated" in w for w in need.warnings)


def test_unknown_plugins_are_all_named_before_any_build(tmp_path: Path) -> None:
    with pytest.raises(PluginUnavailable) as raised:
        read_requirements(site(tmp_path, "plugins: [jekyll-feed, jekyll-foo, jekyll-bar]\n"))
    message = raised.value.message
    assert "_config.yml: plugins: plugin 'jekyll-foo' has no Debian package" in message
    assert "plugin 'jekyll-bar' has no Debian package" in message
    assert "jekyll-feed" in message  # the list of what is available


def test_unpackaged_theme_and_remote_theme_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(
        PluginUnavailable, match="theme 'jekyll-theme-hacker' has no Debian package"
    ):
        read_requirements(site(tmp_path, "theme: jekyll-theme-hacker\n"))
    with pytest.raises(
        PluginUnavailable, match="remote_theme 'pages-themes/x' is downloaded from GitHub"
    ):
        read_requirements(site(tmp_path, "remote_theme: pages-themes/x\n"))


GEMFILE = """
source "https://rubygems.org"
gemspec
gem "jekyll", "~> 4.3"
gem "minima", "~> 2.5"
group :jekyll_plugins do
  gem "jekyll-feed", "~> 0.12"
  gem 'jekyll-seo-tag' # metadata
end
platforms :mingw, :x64_mingw do
  gem "tzinfo-data"
end
gem "jekyll-sitemap", group: :jekyll_plugins
gem "jekyll-toc", group: [:test, :jekyll_plugins]
gem "rake"
"""


def test_gemfile_jekyll_plugins_group() -> None:
    assert gemfile_plugins(GEMFILE) == [
        "jekyll-feed",
        "jekyll-seo-tag",
        "jekyll-sitemap",
        "jekyll-toc",
    ]


def test_gemfile_plugins_are_installed_and_loaded(tmp_path: Path) -> None:
    need = read_requirements(site(tmp_path, "theme: minima\n", GEMFILE))
    assert need.plugins == ("jekyll-feed", "jekyll-seo-tag", "jekyll-sitemap", "jekyll-toc")


def test_jekyll_own_dependencies_are_never_missing_plugins(tmp_path: Path) -> None:
    gemfile = (
        'group :jekyll_plugins do\n  gem "rouge"\n  gem "kramdown"\n  gem "jekyll-feed"\nend\n'
    )
    need = read_requirements(site(tmp_path, "plugins: [kramdown-parser-gfm]\n", gemfile))
    assert need.plugins == ("jekyll-feed",)


def test_github_pages_builds_with_its_packaged_default_plugins(tmp_path: Path) -> None:
    gemfile = (
        'source "https://rubygems.org"\ngem "github-pages", "~> 228", group: :jekyll_plugins\n'
    )
    need = read_requirements(site(tmp_path, "plugins: [jekyll-feed]\n", gemfile))
    assert need.plugins[0] == "jekyll-feed"
    assert {"jekyll-gist", "jekyll-relative-links", "jekyll-titles-from-headings"} <= set(
        need.plugins
    )
    assert "ruby-jekyll-optional-front-matter" in need.packages
    unpackaged = [w for w in need.warnings if w.startswith("github-pages:")]
    assert unpackaged == [
        "github-pages: jekyll-coffeescript has no Debian package; building without it: "
        ".coffee files are not compiled to JavaScript.",
        "github-pages: jekyll-github-metadata needs GitHub's API, which this build cannot "
        "reach; building without it: site.github is empty.",
    ]
    assert "jekyll-github-metadata" not in need.plugins


def test_an_unpackaged_plugin_is_one_error_with_both_fixes(tmp_path: Path) -> None:
    gemfile = 'gem "github-pages"\ngroup :jekyll_plugins do\n  gem "jemoji"\nend\n'
    folder = site(tmp_path, "plugins: [jemoji, jekyll-spaceship]\n", gemfile)
    with pytest.raises(PluginUnavailable) as raised:
        read_requirements(folder)
    lines = raised.value.message.splitlines()
    assert lines[0] == (
        "_config.yml: plugins; Gemfile: group :jekyll_plugins: plugin 'jemoji' has no Debian "
        "package."
    )
    assert lines[1] == "_config.yml: plugins: plugin 'jekyll-spaceship' has no Debian package."
    assert '[build] skip_plugins = ["jemoji", "jekyll-spaceship"]' in lines[2]
    assert raised.value.message.count("jekyll-archives") == 1  # the packaged list, once

    need = read_requirements(folder, skip_plugins=("jemoji", "jekyll-spaceship"))
    assert need.skipped == ("jemoji", "jekyll-spaceship")
    assert "jemoji" not in need.plugins
    assert "Building without jemoji ([build] skip_plugins): :emoji: codes stay text." in (
        need.warnings
    )


def test_a_themes_own_repository_builds_from_its_files(tmp_path: Path) -> None:
    folder = site(
        tmp_path, "theme: jekyll-theme-cayman\n", 'source "https://rubygems.org"\ngemspec\n'
    )
    (folder / "_layouts").mkdir()
    (folder / "_layouts/default.html").write_text("{{ content }}")
    (folder / "jekyll-theme-cayman.gemspec").write_text(
        'Gem::Specification.new do |s|\n  s.name = "jekyll-theme-cayman"\n'
        '  s.add_runtime_dependency "jekyll", "> 3.5"\n'
        '  s.add_runtime_dependency "jekyll-seo-tag", "~> 2.0"\n'
        '  s.add_development_dependency "rake"\nend\n'
    )
    need = read_requirements(folder)
    assert need.own_theme
    assert need.plugins == ("jekyll-seo-tag",)
    assert "jekyll-theme-cayman" not in " ".join(need.packages)
    assert any("the theme's own repository" in w for w in need.warnings)
    (folder / "jekyll-theme-cayman.gemspec").unlink()  # a site that only overrides layouts
    with pytest.raises(PluginUnavailable, match="theme 'jekyll-theme-cayman' has no Debian"):
        read_requirements(folder)


def test_extra_config_files_merge_in_order(tmp_path: Path) -> None:
    site(tmp_path, "plugins: [jekyll-feed]\nbaseurl: /a\n")
    (tmp_path / "_prod.yml").write_text("baseurl: /blog/\n")
    need = read_requirements(tmp_path, ("_config.yml", "_prod.yml"))
    assert need.baseurl == "/blog"
    assert need.config_files == ("_config.yml", "_prod.yml")


def test_missing_config_file_and_bad_yaml(tmp_path: Path) -> None:
    site(tmp_path, "title: [unclosed\n")
    with pytest.raises(ConfigError, match=r"_config\.yml: Jekyll cannot read this config file"):
        read_requirements(tmp_path)
    with pytest.raises(ConfigError, match=r"_nope\.yml: no such file"):
        read_requirements(tmp_path, ("_nope.yml",))


def test_unsafe_baseurl_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="baseurl"):
        read_requirements(site(tmp_path, 'baseurl: "/a\'; rm -rf /"\n'))


def test_extra_packages_are_appended_once(tmp_path: Path) -> None:
    need = read_requirements(site(tmp_path, "title: x\n"), extra_packages=("jekyll", "rsync"))
    assert need.packages.count("jekyll") == 1
    assert need.packages[-1] == "rsync"


def test_content_time_publishes_every_post_and_no_future_one(tmp_path: Path) -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert content_time(tmp_path, now) == "2000-01-01 23:59:59 -1200"
    (tmp_path / "_posts" / "travel").mkdir(parents=True)
    (tmp_path / "_posts" / "2024-05-01-a.md").write_text("---\ntitle: a\n---\n")
    (tmp_path / "_posts" / "travel" / "2026-02-14-b.md").write_text(
        "---\ndate: 2026-02-15 18:00\n---\n"
    )
    (tmp_path / "_posts" / "notes.md").write_text("no date")
    assert content_time(tmp_path, now) == "2026-02-15 23:59:59 -1200"
    (tmp_path / "_posts" / "2027-01-01-scheduled.md").write_text("---\n---\n")
    assert content_time(tmp_path, now) == "2026-11-28 12:00:00 +0000"
