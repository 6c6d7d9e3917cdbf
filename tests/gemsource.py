"""A real gem source for tests: gems made here with `gem build` from fixtures, indexed with
`gem generate_index` (Debian's RubyGems 3.3), served over plain HTTP on a free 127.0.0.1
port — how a private gem mirror works. Every request is recorded, so a test can tell what a
build asked for."""

from __future__ import annotations

import base64
import subprocess
import threading
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import free_port

# A plugin gem Debian does not package: a Liquid tag.
PLUGIN = "jekyll-sdtest-hello"
PLUGIN_CODE = """require "jekyll"

module SdtestHello
  class Tag < Liquid::Tag
    def render(_context)
      "Hello from a gem"
    end
  end
end

Liquid::Template.register_tag("sdtest_hello", SdtestHello::Tag)
"""
# A theme gem: layouts, an include and Sass, as jekyll-theme-* gems ship them.
THEME = "jekyll-theme-sdtest"
THEME_FILES = {
    "_layouts/default.html": (
        '<!doctype html><html><head><link rel="stylesheet" '
        'href="{{ "/assets/theme.css" | relative_url }}"></head>'
        "<body>{% include sdtest-banner.html %}{{ content }}</body></html>\n"
    ),
    "_layouts/page.html": "---\nlayout: default\n---\n<main>{{ content }}</main>\n",
    "_layouts/post.html": "---\nlayout: default\n---\n<article>{{ content }}</article>\n",
    "_layouts/home.html": "---\nlayout: default\n---\n{{ content }}\n",
    "_includes/sdtest-banner.html": '<header class="sdtest-theme">{{ site.title }}</header>\n',
    "_sass/sdtest.scss": ".sdtest-theme { color: #123456; }\n",
    "assets/theme.scss": '---\n---\n@import "sdtest";\n',
}


def _gemspec(name: str, version: str, files: list[str], dependencies: list[str]) -> str:
    lines = [
        "Gem::Specification.new do |s|",
        f'  s.name = "{name}"',
        f'  s.version = "{version}"',
        '  s.summary = "sitedeploy test gem"',
        '  s.authors = ["sitedeploy tests"]',
        '  s.license = "MIT"',
        f"  s.files = {files!r}".replace("'", '"'),
        *(f'  s.add_runtime_dependency "{dependency}"' for dependency in dependencies),
        "end",
    ]
    return "\n".join(lines) + "\n"


def build_gem(
    workdir: Path, name: str, version: str, files: dict[str, str], dependencies: list[str]
) -> Path:
    """`gem build` in a folder of its own; returns the .gem file."""
    source = workdir / f"{name}-{version}-src"
    for relative, text in files.items():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text(text)
    (source / f"{name}.gemspec").write_text(_gemspec(name, version, sorted(files), dependencies))
    subprocess.run(["gem", "build", f"{name}.gemspec"], cwd=source, check=True, capture_output=True)
    return source / f"{name}-{version}.gem"


class _Handler(SimpleHTTPRequestHandler):
    def __init__(
        self, *args: Any, requests: list[str], authorization: str | None, **kwargs: Any
    ) -> None:
        self._requests = requests
        self._authorization = authorization
        super().__init__(*args, **kwargs)

    def send_head(self) -> Any:
        self._requests.append(f"{self.command} {self.path}")
        if self._authorization and self.headers.get("Authorization") != self._authorization:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="gems"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return super().send_head()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class GemSource:
    root: Path
    port: int = field(default_factory=free_port)
    requests: list[str] = field(default_factory=list)
    login: tuple[str, str] | None = None  # Basic auth every request must carry
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, gem: Path) -> None:
        (self.root / "gems").mkdir(parents=True, exist_ok=True)
        gem.rename(self.root / "gems" / gem.name)
        subprocess.run(
            ["gem", "generate_index", "--directory", str(self.root)],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        authorization = None
        if self.login:
            token = base64.b64encode(":".join(self.login).encode()).decode()
            authorization = f"Basic {token}"
        handler = partial(
            _Handler, directory=str(self.root), requests=self.requests, authorization=authorization
        )
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def start_gem_source(workdir: Path, login: tuple[str, str] | None = None) -> GemSource:
    """A gem source with the test plugin and theme gems, serving (behind Basic auth, with
    `login`)."""
    source = GemSource(workdir / "source", login=login)
    source.add(build_gem(workdir, PLUGIN, "0.1.0", {f"lib/{PLUGIN}.rb": PLUGIN_CODE}, ["jekyll"]))
    source.add(build_gem(workdir, THEME, "0.1.0", THEME_FILES, ["jekyll"]))
    source.start()
    return source
