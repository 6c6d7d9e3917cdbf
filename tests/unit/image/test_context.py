from pathlib import Path

import pytest

from deployer.errors import ContextError
from deployer.image import context
from deployer.image.context import scan_context


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_outputs_caches_and_vcs_are_not_sent(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "_config.yml": "",
            "index.md": "hi",
            "_site/index.html": "",
            ".jekyll-cache/x": "",
            ".git/config": "",
            "vendor/bundle/x": "",
            "node_modules/a/b.js": "",
            "sitedeploy.toml": "",
            "assets/site.css": "",
        },
    )
    sent = {f.path for f in scan_context(tmp_path).files}
    assert sent == {"_config.yml", "index.md", "assets/site.css"}


def test_the_sites_own_dockerignore_is_honoured(tmp_path: Path) -> None:
    tree(tmp_path, {".dockerignore": "drafts\n*.psd\n", "a.md": "", "drafts/x.md": "", "b.psd": ""})
    # Docker always sends .dockerignore itself; Jekyll never publishes dotfiles.
    assert {f.path for f in scan_context(tmp_path).files} == {".dockerignore", "a.md"}


def test_links_leaving_the_folder_are_left_out_with_a_warning(tmp_path: Path) -> None:
    tree(tmp_path, {"index.md": "", "inner.txt": "x"})
    (tmp_path / "passwd").symlink_to("/etc/passwd")
    (tmp_path / "alias.txt").symlink_to("inner.txt")
    scanned = scan_context(tmp_path)
    assert "passwd" not in scanned.entries
    assert "alias.txt" in scanned.entries
    assert any("passwd is a symbolic link to /etc/passwd" in w for w in scanned.warnings)
    assert "passwd" in scanned.dockerignore().splitlines()


def test_content_hash_follows_content_names_and_modes(tmp_path: Path) -> None:
    tree(tmp_path, {"a.md": "one"})
    first = scan_context(tmp_path).content_hash
    assert scan_context(tmp_path).content_hash == first
    (tmp_path / "a.md").write_text("two")
    second = scan_context(tmp_path).content_hash
    assert second != first
    (tmp_path / "a.md").chmod(0o755)
    assert scan_context(tmp_path).content_hash != second
    (tmp_path / "_site").mkdir()
    (tmp_path / "_site" / "x").write_text("ignored")
    assert scan_context(tmp_path).content_hash == scan_context(tmp_path).content_hash


def test_too_large_a_context_is_refused_naming_the_largest_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree(tmp_path, {"big.bin": "x" * 5000, "small.md": "y"})
    monkeypatch.setattr(context, "MAX_CONTEXT_BYTES", 4000)
    with pytest.raises(ContextError, match=r"Largest files: big\.bin \(5\.0 kB\)"):
        scan_context(tmp_path)


def test_a_large_context_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, {"big.bin": "x" * 5000})
    monkeypatch.setattr(context, "WARN_CONTEXT_BYTES", 4000)
    assert any("largest files: big.bin" in w for w in scan_context(tmp_path).warnings)


def test_a_2_gb_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    tree(tmp_path, {"index.md": "hi"})
    with (tmp_path / "video.mp4").open("wb") as sparse:
        sparse.truncate(2 * 1024**3)  # sparse: no disk used, but 2 GB to send
    with pytest.raises(ContextError, match=r"would send 2\.1 GB .* video\.mp4 \(2\.1 GB\)"):
        scan_context(tmp_path)
