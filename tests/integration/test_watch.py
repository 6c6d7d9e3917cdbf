"""`up --watch` with the hot loop: a save becomes a small layer over the serving image,
pages in a real browser reload by themselves, and what is published is a clean build."""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from deployer.built_site import HOT_SITE
from deployer.check.browser import CHROMIUM_FLAGS, find_chromium
from deployer.config import load_config
from deployer.engine import Engine
from deployer.errors import JekyllFailed
from deployer.image.extract import read_image_file
from deployer.image.images import build_site
from deployer.labels import Label
from deployer.progress import Progress
from deployer.serve.front_config import LIVE_RELOAD_PATH
from deployer.serve.hot import HotBuilder, HotEdit
from deployer.serve.preview import preview_status, stop_preview
from deployer.site import Site, cache_dir, open_site
from deployer.waiting import wait_until
from tests.conftest import SiteFactory, free_port
from tests.running import Running, cli

pytestmark = pytest.mark.engine

POST = "_posts/2026-01-05-welcome-to-sitedeploy.md"
PAGE = "/news/2026/01/05/welcome-to-sitedeploy.html"
SCRIPT = "document.documentElement.dataset.hot = 'yes';"


def _image_of(engine: Engine, folder: Path) -> tuple[str, dict[str, str]]:
    status = preview_status(engine, open_site(folder))
    assert status.image is not None
    image = engine.client.images.get(status.image)
    return status.image, dict(image.labels or {})


def _served_text(engine: Engine, image: str, path: str) -> str:
    """A page as the image holds it (text is stored compressed only)."""
    return gzip.decompress(read_image_file(engine, image, f"/srv/www{path}.gz")).decode()


def _content(page: Any) -> str:
    """The page's HTML, or "" while it is being reloaded."""
    try:
        return str(page.content())
    except Exception:
        return ""


def test_saves_are_hot_edits_that_reload_the_browser_and_publish_stays_clean(
    engine: Engine, make_site: SiteFactory
) -> None:
    from playwright.sync_api import sync_playwright

    folder = make_site("hot")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    run = Running("up", str(folder), "--port", str(port), "--watch")
    try:
        run.wait_for("Watching")
        assert "Enter builds afresh" in run.output[-1]
        _clean_image, clean_labels = _image_of(engine, folder)
        assert Label.HOT_EDITS not in clean_labels
        # Live reload: a browser's page gets the script; other clients get the site's bytes.
        assert LIVE_RELOAD_PATH in requests.get(url + PAGE, headers={"Accept": "text/html"}).text
        plain = requests.get(url + PAGE, timeout=10)
        assert LIVE_RELOAD_PATH not in plain.text

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=find_chromium(), args=CHROMIUM_FLAGS
            )
            page = browser.new_page()
            page.goto(url + PAGE, wait_until="load")
            # A post's title and text change: the post is served first, then the
            # whole site (the home page lists the title, the feed has the text).
            post = folder / POST
            text = post.read_text().replace("Welcome to sitedeploy", "Hot title")
            post.write_text(text + "\nHOT-EDIT-ONE\n")
            saved = time.monotonic()
            run.wait_for("Serving the edited pages")
            # The page reloads by itself (its policy forbids evaluating test code in it).
            wait_until(
                10, lambda: "HOT-EDIT-ONE" in _content(page), "the page to reload",
                every=0.02, hint=lambda: "".join(run.output),
            )  # fmt: skip
            print(
                f"\nhot edit: shown in the browser {time.monotonic() - saved:.2f} s after the save"
            )
            browser.close()
        run.wait_for("Whole site regenerated and served")
        assert "more files changed" in run.output[-1], "".join(run.output)
        assert "Jekyll regenerated in" in "".join(run.output)
        assert "Hot title" in requests.get(url + "/", timeout=10).text
        assert "HOT-EDIT-ONE" in requests.get(url + "/feed.xml", timeout=10).text
        # Two edit layers: the post first, then what the whole site changed.
        hot_image, labels = _image_of(engine, folder)
        assert labels[Label.HOT_EDITS] == "2" and hot_image.endswith(":hot-2")
        # The image has the edit and no live reload: that is the front's, in watch mode only.
        stored = _served_text(engine, hot_image, PAGE)
        assert "HOT-EDIT-ONE" in stored and LIVE_RELOAD_PATH not in stored

        # A new layout cannot go first: the whole site regenerates, then is served.
        layout = folder / "_layouts" / "post.html"
        layout.parent.mkdir()
        layout.write_text(
            "---\nlayout: default\n---\n<article>HOT-LAYOUT {{ content }}</article>\n"
        )
        seen = len(run.output)
        run.wait_for("Whole site regenerated and served")
        assert not any("Serving the edited pages" in line for line in run.output[seen:])
        assert "HOT-LAYOUT" in requests.get(url + PAGE, timeout=10).text

        # A page that gains an inline script gets its hash in its policy on the hot path.
        about = folder / "about.md"
        about.write_text(about.read_text() + f"\n<script>{SCRIPT}</script>\n")
        run.wait_for("Serving the edited pages")
        digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
        policy = requests.get(url + "/about/", timeout=10).headers["Content-Security-Policy"]
        assert f"'sha256-{digest}'" in policy
        # The whole check, in Chromium too, passes on the watch preview (hot files).
        check = cli("check", str(folder), "--browser", "-q", "--json")
        assert check.returncode == 0, check.stdout + check.stderr

        # A configuration change is built afresh, and the edits start over.
        config = folder / "_config.yml"
        config.write_text(config.read_text().replace("My sitedeploy site", "Renamed site"))
        run.wait_for("the site is built afresh")
        run.wait_for("Serving the change")
        _fresh, fresh_labels = _image_of(engine, folder)
        assert Label.HOT_EDITS not in fresh_labels
        assert "Renamed site" in requests.get(url + "/", timeout=10).text

        # Enter asks for a clean build at any time (the edit layers go).
        about.write_text(about.read_text() + "\nONE-MORE\n")
        run.wait_for("Whole site regenerated and served")
        assert Label.HOT_EDITS in _image_of(engine, folder)[1]
        run.enter()
        run.wait_for("Building afresh, as asked.")
        run.wait_for("Serving the change")
        assert Label.HOT_EDITS not in _image_of(engine, folder)[1]
    finally:
        run.interrupt()
    # What `publish` pushes is the site's own clean build of the same sources.
    site = open_site(folder)
    images = build_site(engine, site, load_config(folder), Progress(quiet=True))
    assert Label.HOT_EDITS not in (engine.client.images.get(images.image.tag).labels or {})
    assert "HOT-EDIT-ONE" in _served_text(engine, images.image.tag, PAGE)
    stop_preview(engine, site)


_NOTES = {
    f"_posts/2026-02-{day:02d}-note-{day}.md": (
        f"---\nlayout: post\ntitle: Note {day}\ntags: [tag{day % 2}]\n---\nNote {day} says hi.\n"
    )
    for day in range(1, 11)
}
_TAGS_PAGE = (
    "---\ntitle: Tags\npermalink: /tags/\n---\n{% for tag in site.tags %}<h2>{{ tag[0] }}</h2>"
    "{% for post in tag[1] %}<a href='{{ post.url }}'>{{ post.title }}</a>{% endfor %}"
    "{% endfor %}\n"
)


@contextlib.contextmanager
def _hot_builder(engine: Engine, folder: Path) -> Iterator[tuple[Site, HotBuilder]]:
    """The site built, and a hot builder of it warmed up (removed afterwards)."""
    site = open_site(folder)
    images = build_site(engine, site, load_config(folder), Progress(quiet=True))
    hot = HotBuilder.start(engine, site, images)
    try:
        hot.ready()
        yield site, hot
    finally:
        hot.stop()


def test_the_edited_post_goes_first_as_the_whole_build_makes_it(
    engine: Engine, make_site: SiteFactory
) -> None:
    """The hot builder itself: an edited post is rendered alone first, byte for byte what
    the whole regeneration then writes; the whole pass brings the pages that list it; a
    layout or a Liquid error skips the first pass (the whole pass reports the error)."""
    folder = make_site("first", {**_NOTES, "tags.md": _TAGS_PAGE})
    with _hot_builder(engine, folder) as (site, hot):
        post = folder / "_posts/2026-02-05-note-5.md"
        post.write_text(post.read_text().replace("Note 5", "Renamed note"))
        assert hot.sync() == ["_posts/2026-02-05-note-5.md"]
        first = hot.regenerate(["_posts/2026-02-05-note-5.md"])
        assert isinstance(first, HotEdit), first
        assert first.changed == ("2026/02/05/note-5.html",)
        whole = hot.whole()
        # Not written again: the whole build made the same bytes of it.
        assert "2026/02/05/note-5.html" not in whole.changed
        assert {"index.html", "feed.xml", "tags/index.html"} <= set(whole.changed), whole.changed
        hot_site = cache_dir(site) / HOT_SITE
        assert "Renamed note" in (hot_site / "tags/index.html").read_text()

        # An editor's backup and lock files (Emacs' is a dangling link) beside the edit
        # are nothing Jekyll reads: the edited post still goes first.
        (folder / "_posts/2026-02-05-note-5.md~").write_text("the previous text")
        (folder / "_posts/.#2026-02-05-note-5.md").symlink_to("me@host.42:1700000000")
        post.write_text(post.read_text().replace("Renamed note", "Renamed again"))
        first = hot.regenerate(hot.sync())
        assert isinstance(first, HotEdit) and first.changed == ("2026/02/05/note-5.html",), first
        hot.whole()
        for path in (folder / "_posts").glob("*note-5.md[~]"):
            path.unlink()
        (folder / "_posts/.#2026-02-05-note-5.md").unlink()

        layout = folder / "_layouts/post.html"
        layout.parent.mkdir()
        layout.write_text(
            "---\nlayout: default\n---\n<article>FIRST-LAYOUT {{ content }}</article>\n"
        )
        skipped = hot.regenerate(hot.sync())
        assert skipped == "_layouts/post.html is not a page or post"
        assert len(hot.whole().changed) >= len(_NOTES) + 1  # every post (and the welcome)

        post.write_text(post.read_text() + "\n{% if %}\n")
        reason = hot.regenerate(hot.sync())
        assert isinstance(reason, str) and "Liquid" in reason
        with pytest.raises(JekyllFailed, match="Liquid"):
            hot.whole()


def test_an_edit_that_fails_its_check_is_not_served_and_the_next_save_builds_afresh(
    engine: Engine, make_site: SiteFactory
) -> None:
    """Under --strict a dead link fails the edit's check: the last good version keeps
    serving, and since the hot builder's files ran ahead of it, the fix is a full build."""
    folder = make_site("behind")
    port = free_port()
    run = Running("up", str(folder), "--port", str(port), "--watch", "--strict")
    try:
        run.wait_for("Watching")
        about = folder / "about.md"
        good = about.read_text()
        about.write_text(good + "\n[gone](/no-such-page/) BEHIND-BROKEN\n")
        run.wait_for("The last good version keeps serving")
        served = requests.get(f"http://127.0.0.1:{port}/about/", timeout=10).text
        assert "BEHIND-BROKEN" not in served
        about.write_text(good + "\nBEHIND-FIXED\n")
        run.wait_for("the last edit was not served: the site is built afresh")
        run.wait_for("Serving the change")
        served = requests.get(f"http://127.0.0.1:{port}/about/", timeout=10).text
        assert "BEHIND-FIXED" in served
        assert Label.HOT_EDITS not in _image_of(engine, folder)[1]
    finally:
        run.interrupt()
    stop_preview(engine, open_site(folder))


_CJK_POST = "_posts/2026-02-01-日本語の記事.md"
_CJK = {
    # No layout, so no <meta charset>: the page's links are read as nginx serves it (UTF-8).
    _CJK_POST: "---\ntitle: 日本語の記事\n---\nCJK-ONE [关于](/关于/) [猫](/图片/猫.txt)\n",
    "关于.md": "---\ntitle: 关于\npermalink: /关于/\n---\n关于本站 ABOUT-ONE\n",
    "图片/猫.txt": "猫 STATIC-ONE\n",
}


def test_cjk_file_names_and_links_take_the_hot_path(engine: Engine, make_site: SiteFactory) -> None:
    """A blog's CJK file names and links written in CJK: an edited post, page and static
    file are each served hot, and each edit passes the strict check of its links."""
    folder = make_site("cjk", _CJK)
    url = f"http://127.0.0.1:{free_port()}"
    run = Running("up", str(folder), "--port", url.rsplit(":", 1)[1], "--watch", "--strict")

    def served(path: str) -> str:
        return requests.get(url + quote(path), timeout=10).text

    try:
        run.wait_for("Watching")
        assert not any("broken-link" in line for line in run.output), "".join(run.output)
        for source, path, before, after, first in (
            (_CJK_POST, "/2026/02/01/日本語の記事.html", "CJK-ONE", "CJK-TWO", True),
            ("关于.md", "/关于/", "ABOUT-ONE", "ABOUT-TWO", True),
            ("图片/猫.txt", "/图片/猫.txt", "STATIC-ONE", "STATIC-TWO", False),
        ):
            assert before in served(path)
            seen = len(run.output)
            edited = folder / source
            edited.write_text(edited.read_text().replace(before, after))
            run.wait_for("Whole site regenerated and served")
            went_first = any("Serving the edited pages" in line for line in run.output[seen:])
            assert went_first == first, "".join(run.output[seen:])
            assert after in served(path)
            assert not any("keeps serving" in line for line in run.output[seen:])
        run.wait_for("Full check of the edit")
        assert not any("broken-link" in line for line in run.output), "".join(run.output)
    finally:
        run.interrupt()
    stop_preview(engine, open_site(folder))


_SHAPING_PLUGIN = """
class SdtestShape < Jekyll::Generator
  def generate(site)
    site.pages.select { |page| page.ext == ".md" }.each { |page| page.content += "\\n\\nSHAPED\\n" }
  end
end
"""


def test_a_site_whose_generators_shape_pages_regenerates_whole_first(
    engine: Engine, make_site: SiteFactory
) -> None:
    """A generator that changes pages (as GitHub Pages' default layouts or relative links
    do) would be skipped by rendering the edited page alone: such a site skips the first
    pass, and the whole regeneration serves the page as a build makes it."""
    folder = make_site("shaping", {"_plugins/shape.rb": _SHAPING_PLUGIN})
    with _hot_builder(engine, folder) as (site, hot):
        about = folder / "about.md"
        about.write_text(about.read_text() + "\nSHAPE-EDIT\n")
        skipped = hot.regenerate(hot.sync())
        assert skipped == "the site's generators may change its pages (SdtestShape)"
        assert "about/index.html" in hot.whole().changed
        page = (cache_dir(site) / HOT_SITE / "about/index.html").read_text()
        assert "SHAPE-EDIT" in page and "SHAPED" in page.split("SHAPE-EDIT")[1]
