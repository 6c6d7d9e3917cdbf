from pathlib import Path

import pytest

from deployer.errors import SassUnsupported
from deployer.image.sass import check_sass, dart_sass_only


def test_dart_sass_modules_are_found_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "_sass").mkdir()
    (tmp_path / "_sass/base.scss").write_text(
        '// @use "commented";\n@import "vars";\n@use "sass:math";\n.a { width: math.div(1, 3); }\n'
    )
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets/main.scss").write_text('---\n---\n@forward "theme";\n')
    (tmp_path / "node_modules/x").mkdir(parents=True)
    (tmp_path / "node_modules/x/y.scss").write_text('@use "ignored";\n')
    assert dart_sass_only(tmp_path) == [
        "_sass/base.scss:3: uses @use",
        "_sass/base.scss:4: uses a built-in sass: module",
        "assets/main.scss:3: uses @forward",
    ]
    with pytest.raises(SassUnsupported, match=r"(?s)_sass/base\.scss:3: uses @use.*Rewrite"):
        check_sass(tmp_path)


def test_libsass_sass_passes(tmp_path: Path) -> None:
    (tmp_path / "_sass").mkdir()
    (tmp_path / "_sass/a.scss").write_text('@import "b";\n$w: 10px / 2;\n.usage { color: red; }\n')
    check_sass(tmp_path)
