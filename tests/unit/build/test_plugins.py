from datetime import UTC, datetime
from pathlib import Path

import pytest

from deployer.build.plugins import BASE_PACKAGES, content_time, gemfile_plugins, read_requirements
from deployer.errors import ConfigError, PluginUnavailable


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
    with pytest.raises(PluginUnavailable, match="remote_theme 'pages-themes/x' needs GitHub"):
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


def test_github_pages_gem_gets_advice(tmp_path: Path) -> None:
    gemfile = 'group :jekyll_plugins do\n  gem "github-pages"\nend\n'
    with pytest.raises(PluginUnavailable, match="Gemfile: group :jekyll_plugins: github-pages"):
        read_requirements(site(tmp_path, "title: x\n", gemfile))


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
