from pathlib import Path

from deployer.image.context import left_out_text, needed_ignores, scan_context


def _modules(tmp_path: Path, *packages: str) -> Path:
    for package in packages:
        (tmp_path / "node_modules" / package).mkdir(parents=True)
    return tmp_path


def test_node_modules_is_kept_when_the_sass_imports_from_it(tmp_path: Path) -> None:
    site = _modules(tmp_path, "bulma")
    (site / "_sass").mkdir()
    (site / "_sass/main.scss").write_text('@import "bulma/sass/utilities/_all";\n')
    assert needed_ignores(site, {}, bundler=False) == {
        "node_modules": "main.scss imports 'bulma/sass/utilities/_all' from it"
    }


def test_node_modules_is_kept_for_a_load_path_or_an_include(tmp_path: Path) -> None:
    site = _modules(tmp_path, "bootstrap")
    loaded = needed_ignores(site, {"sass": {"load_paths": ["node_modules"]}}, bundler=False)
    assert loaded == {"node_modules": "a Sass load path in _config.yml is there"}
    included = needed_ignores(site, {"include": ["node_modules"]}, bundler=False)
    assert included == {"node_modules": "_config.yml includes it in the site"}


def test_otherwise_it_is_left_out_and_said_why(tmp_path: Path) -> None:
    site = _modules(tmp_path, "prettier")
    (site / "Gemfile.lock").write_text("GEM\n")
    (site / "_sass").mkdir()
    (site / "_sass/main.scss").write_text('@import "minima";\n')
    assert needed_ignores(site, {}, bundler=False) == {}
    assert needed_ignores(site, {}, bundler=True) == {"Gemfile.lock": "Bundler installs it exactly"}
    assert left_out_text(site, {}) == (
        "Left out of the build: node_modules (nothing the build reads imports from it), "
        "Gemfile.lock (the gems come from Debian's packages)."
    )


def test_vendor_cache_is_kept_for_bundler_and_the_rest_of_vendor_is_not(tmp_path: Path) -> None:
    (tmp_path / "vendor" / "cache").mkdir(parents=True)
    (tmp_path / "vendor" / "cache" / "a-1.0.gem").write_bytes(b"gem")
    (tmp_path / "vendor" / "bundle" / "ruby").mkdir(parents=True)
    (tmp_path / "vendor" / "bundle" / "ruby" / "installed.rb").write_text("x")
    (tmp_path / "index.md").write_text("hi")
    assert "vendor/cache" not in needed_ignores(tmp_path, {}, bundler=False)
    needed = needed_ignores(tmp_path, {}, bundler=True)
    assert "vendor/cache" in needed
    sent = {f.path for f in scan_context(tmp_path, keep=tuple(needed)).files}
    assert sent == {"index.md", "vendor/cache/a-1.0.gem"}
    assert "vendor (but vendor/cache)" in left_out_text(tmp_path, needed)
