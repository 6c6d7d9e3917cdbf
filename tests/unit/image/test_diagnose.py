"""A failed Jekyll build says which file (and line) is at fault, and whose fault it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.errors import JekyllFailed
from deployer.image.build_log import BuildOutput, StepLog
from deployer.image.builders import _raise_for
from deployer.image.diagnose import (
    BuildSetting,
    Place,
    bundler_places,
    explain,
    names_a_site_file,
    symbol_places,
)
from deployer.site import Site

SYMBOL_FAILURE = [
    "Configuration file: /site/src/_config.yml",
    "/usr/lib/ruby/3.1.0/psych/class_loader.rb:99:in `find': Tried to load unspecified "
    "class: Symbol (Psych::DisallowedClass)",
    "\tfrom /usr/lib/ruby/3.1.0/psych/class_loader.rb:28:in `load'",
]
BANNER = "      Jekyll 4.3.1   Please append `--trace` to the `build` command "


def _site(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def _setting(folder: Path, *, debian: bool = True) -> BuildSetting:
    return BuildSetting(folder, ("_config.yml",), ("_plugins",), debian=debian)


def test_ruby_symbols_are_found_in_config_data_and_front_matter(tmp_path: Path) -> None:
    config = "title: x\n" * 46 + "sass:\n  style: :compressed\n"
    folder = _site(tmp_path, {
        "_config.yml": config,
        "_data/nav.yml": "- title: Home\n  icon: :house\n",
        "_posts/2026-01-01-a.md": "---\ntitle: A\ntags:\n  - :one\n  - two\n---\nbody :no\n",
        "about.md": "no front matter: :here\n",
        "_site/old.md": "---\nx: :ignored\n---\n",
    })  # fmt: skip
    assert symbol_places(folder, ("_config.yml",)) == [
        Place("_config.yml", 48, ":compressed"),
        Place("_data/nav.yml", 2, ":house"),
        Place("_posts/2026-01-01-a.md", 4, ":one"),
    ]


def test_quoted_colons_and_times_are_not_symbols(tmp_path: Path) -> None:
    folder = _site(tmp_path, {"_config.yml": 'a: ":quoted"\nb: "10:30"\nc: 10:30\nd: ": x"\n'})
    assert symbol_places(folder, ("_config.yml",)) == []


def test_the_symbol_failure_names_the_line_and_the_fix(tmp_path: Path) -> None:
    folder = _site(tmp_path, {"_config.yml": "sass:\n  style: :compressed\n"})
    reason = "Tried to load unspecified class: Symbol (Psych::DisallowedClass)"
    said = explain(_setting(folder), reason, [*SYMBOL_FAILURE, BANNER])
    assert "_config.yml:2: :compressed" in said
    assert "Debian's Jekyll 4.3.1 (the offline fallback" in said
    assert "`style: compressed`" in said


def test_a_plugin_calling_bundler_is_named_with_the_ways_out(tmp_path: Path) -> None:
    folder = _site(tmp_path, {
        "_plugins/bundler.rb": '# frozen\nrequire "bundler/setup"\nBundler.require(:default)\n',
        "_plugins/other.rb": "module X; end\n",
    })  # fmt: skip
    assert [str(p) for p in bundler_places(folder, ("_plugins",))] == [
        '_plugins/bundler.rb:2: require "bundler/setup"',
        "_plugins/bundler.rb:3: Bundler.require(:default)",
    ]
    reason = "Could not find gem 'github-pages' in locally installed gems. (Bundler::GemNotFound)"
    said = explain(_setting(folder), reason, [])
    assert "_plugins/bundler.rb:2" in said and "[build] gem_mirror" in said
    assert "rescue LoadError" in said


def test_whose_fault_when_a_file_is_named_and_when_none_is(tmp_path: Path) -> None:
    folder = _site(tmp_path, {"_posts/2026-04-01-bad.md": "x"})
    named = "Liquid Exception: 'if' tag was never closed in _posts/2026-04-01-bad.md"
    assert names_a_site_file(folder, named)
    assert explain(_setting(folder, debian=False), named, []) == (
        "Fix the file named above and run again."
    )
    assert "the offline fallback" in explain(_setting(folder), named, [BANNER])
    nameless = "no implicit conversion of Array into String"
    assert not names_a_site_file(folder, nameless)
    said = explain(_setting(folder), nameless, [BANNER])
    assert said.startswith(
        "Jekyll names no file of the site. This build used Debian's Jekyll 4.3.1"
    )
    assert '[build] gems = "bundler"' in said
    assert "sitedeploy build -v" in explain(_setting(folder, debian=False), nameless, [])


def test_the_build_error_carries_the_explanation(tmp_path: Path) -> None:
    step = StepLog("RUN jekyll build --destination /site/_site", ["  Error: nope"], error="x")
    output = BuildOutput(None, [step], error="exit 1")
    with pytest.raises(JekyllFailed) as raised:
        _raise_for(output, Site(tmp_path, "t"), "t", lambda reason, lines: f"WHY {reason}")
    assert (
        raised.value.message == f"Jekyll could not build {tmp_path}:\nError: nope\nWHY Error: nope"
    )
