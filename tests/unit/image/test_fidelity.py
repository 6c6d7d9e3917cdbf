"""What the Debian fallback gives against what the site's lock and Gemfile ask for."""

from __future__ import annotations

from pathlib import Path

from deployer.image.diagnose import BuildSetting, explain
from deployer.image.fidelity import (
    debian_differences,
    fallback_line,
    gemfile_requirements,
    locked_versions,
    satisfies,
    versions_in_output,
)

LOCK = """GEM
  remote: https://rubygems.org/
  specs:
    jekyll (3.10.0)
      liquid (~> 4.0)
    jekyll-polyglot (1.13.0)
      jekyll (>= 4.0, >= 3.0)
    liquid (4.0.4)
    nokogiri (1.16.7-x86_64-linux)
    rouge (3.30.0)

PLATFORMS
  x86_64-linux

DEPENDENCIES
  jekyll (~> 3.10)
"""
DEBIAN = {"jekyll": "4.3.1", "liquid": "5.4.0", "jekyll-polyglot": "1.5.1", "rouge": "3.30.0"}


def test_the_lock_is_read_with_platforms_dropped(tmp_path: Path) -> None:
    (tmp_path / "Gemfile.lock").write_text(LOCK)
    assert locked_versions(tmp_path) == {
        "jekyll": "3.10.0", "jekyll-polyglot": "1.13.0", "liquid": "4.0.4",
        "nokogiri": "1.16.7", "rouge": "3.30.0",
    }  # fmt: skip


def test_one_line_names_jekyll_liquid_and_the_plugins_that_differ(tmp_path: Path) -> None:
    (tmp_path / "Gemfile.lock").write_text(LOCK)
    found = debian_differences(tmp_path, DEBIAN, ["jekyll-polyglot", "rouge"])
    assert found == [
        "jekyll 4.3.1 (the lock: 3.10.0)",
        "liquid 5.4.0 (the lock: 4.0.4)",
        "jekyll-polyglot 1.5.1 (the lock: 1.13.0)",
    ]
    line = fallback_line(found)
    assert line is not None and line.startswith("The Debian fallback is not the site's own gems")
    assert fallback_line([]) is None


def test_without_a_lock_the_gemfiles_requirements_are_judged(tmp_path: Path) -> None:
    (tmp_path / "Gemfile").write_text(
        'source "https://rubygems.org"\ngem "jekyll", "~> 3.9"\ngem "liquid", ">= 4", "< 6"\n'
        'gem "jekyll-feed"\n'
    )
    assert gemfile_requirements(tmp_path)["jekyll"] == (("~>", "3.9"),)
    assert debian_differences(tmp_path, {**DEBIAN, "jekyll-feed": "0.15.1"}, ["jekyll-feed"]) == [
        "jekyll 4.3.1 (the Gemfile: ~> 3.9)"
    ]


def test_rubygems_requirements() -> None:
    assert satisfies("3.10.0", ("~>", "3.9")) and not satisfies("4.0.0", ("~>", "3.9"))
    assert satisfies("4.3.4", ("~>", "4.3.1")) and not satisfies("4.4.0", ("~>", "4.3.1"))
    assert satisfies("5.4.0", (">=", "4")) and satisfies("5.4.0", ("<", "6"))
    assert not satisfies("4.3.1", ("=", "4.3.2")) and satisfies("4.3.1", ("!=", "4.3.2"))


def test_a_failure_names_the_versions_its_backtrace_shows(tmp_path: Path) -> None:
    (tmp_path / "Gemfile.lock").write_text(LOCK)
    lines = [
        "  Liquid Exception: no implicit conversion of Array into String in index.md",
        "/usr/share/rubygems-integration/all/gems/liquid-5.4.0/lib/liquid/block.rb:52:in `x'",
        "      Jekyll 4.3.1   Please append `--trace` to the `build` command ",
    ]
    assert versions_in_output(lines) == {"liquid": "5.4.0"}
    (tmp_path / "index.md").write_text("x")
    said = explain(
        BuildSetting(tmp_path, ("_config.yml",), ("_plugins",), debian=True),
        "Liquid Exception: no implicit conversion of Array into String in index.md",
        lines,
    )
    assert said.endswith(
        "Debian's gems here differ from the site's own: jekyll 4.3.1 (the lock: 3.10.0), "
        "liquid 5.4.0 (the lock: 4.0.4)."
    )
