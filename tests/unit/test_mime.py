"""The runtime's type table, declared once and read the same by the check."""

from __future__ import annotations

import pytest

from deployer.mime import accepted_types, parse_mime_types, served_type, served_types


def test_the_table_names_what_browsers_need() -> None:
    table = served_types()
    assert table[".mjs"] == table[".js"] == "text/javascript"
    assert table[".wasm"] == "application/wasm"
    assert table[".webmanifest"] == "application/manifest+json"
    assert (table[".avif"], table[".jxl"]) == ("image/avif", "image/jxl")
    assert (table[".woff2"], table[".map"], table[".ics"]) == (
        "font/woff2",
        "application/json",
        "text/calendar",
    )
    assert table[".vtt"] == "text/vtt"  # <track> refuses any other type
    assert table[".html"] == "text/html" and table[".svg"] == "image/svg+xml"


def test_an_extension_named_twice_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\.js is named twice"):
        parse_mime_types("types {\n  text/javascript js;\n  application/javascript js; # old\n}")


def test_statements_span_lines_and_comments_are_ignored() -> None:
    text = "types {\n  # a comment; with text/plain nope;\n  application/vnd.x\n      xx yy;\n}"
    assert parse_mime_types(text) == {".xx": "application/vnd.x", ".yy": "application/vnd.x"}


def test_other_spellings_of_a_type_are_accepted() -> None:
    assert {"text/javascript", "application/javascript"} <= (accepted_types("a/b.MJS") or set())
    assert "application/rss+xml" in (accepted_types("feed.xml") or set())
    assert accepted_types("archive.unknownext") is None
    assert served_type("index.html") == "text/html"
