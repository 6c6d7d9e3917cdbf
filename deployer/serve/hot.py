"""The hot builder of `up --watch`: Jekyll kept warm, and each save a small layer.

A **hot builder** is a container of the site's builder image running
docker/jekyll/sitedeploy-hot.rb: one Jekyll site kept in memory (its caches warm, as with
`jekyll build --watch`). On a save, sitedeploy copies the changed sources in, asks it to
regenerate, and gets back the files that changed, as Jekyll wrote them and as nginx will
serve them (precompressed by the same pack.rb as a full build) — twice: first the edited
pages alone, rendered against the site in memory (when every changed source is a post, a
collection document or a plain page that keeps its URL, and no generator of the site may
reshape pages), then the whole site regenerated,
which brings every page the edit touched (indexes, feeds, neighbours) and corrects anything
the first answer could not know. The new image is the
serving image plus one layer of those files (and the site's csp.conf when a page's policy
changed), committed from a container of the serving image — seconds instead of a build.
(serve/hot_loop.py drives it: it serves each layer through the switch.)

What a hot edit cannot be (a config, Gemfile, plugin or sitedeploy.toml change, a removed
output file) and every CLEAN_EVERY edits, the watch loop runs a full `up` instead, so a
preview never stacks more than that many edit layers; and `publish` always builds the
site's own content-tagged image, never an edit layer.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import tarfile
from dataclasses import dataclass, field, replace
from typing import Any

from docker.models.containers import Container

from deployer.built_site import HOT_SITE, BuiltFile, BuiltSite
from deployer.digests import file_sha256
from deployer.engine import Engine
from deployer.errors import JekyllFailed, PreviewFailed
from deployer.image.context import scan_context
from deployer.image.dockerfile import FIXES_IN_BUILDER
from deployer.image.gems import GemsWay
from deployer.image.images import SiteImages
from deployer.labels import Label, Role
from deployer.resources import docker_dir
from deployer.serving_rules import COMPRESS_MIN_BYTES, COMPRESSIBLE, never_served
from deployer.site import Site, cache_dir, site_filter

HOT_DIR = "/site/hot"
CLEAN_EVERY = 20  # edit layers before the watch loop builds the site afresh
READY_TIMEOUT = 600
REGENERATE_TIMEOUT = 600
BROTLI_QUALITY = 9
# Saves that change what the build is, not only what it builds: a full `up` follows.
_STRUCTURAL = re.compile(
    r"^(?:_config[^/]*\.(?:ya?ml|toml)|Gemfile(?:\.lock)?|sitedeploy\.toml|package(?:-lock)?\.json"
    r"|\.ruby-version|\.dockerignore|_plugins/.*)$"
)


class NotHot(Exception):
    """This change needs a full `up` (said why)."""


@dataclass(frozen=True)
class HotEdit:
    """What one regeneration changed."""

    changed: tuple[str, ...]  # `_site` paths
    www: bytes  # a tar of /srv (www, errors) to lay over the serving image
    jekyll_seconds: float  # Jekyll's regeneration alone
    seconds: float  # regeneration, finding what changed and precompressing it


def _tar(files: dict[str, bytes], *, mode: int = 0o644) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _exec(engine: Engine, container: Container, command: str, what: str) -> str:
    with engine.errors(what):
        code, output = container.exec_run(["sh", "-c", command])
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else ""
    if code != 0:
        raise PreviewFailed(f"{what} failed in {container.name}: {text.strip()[-2000:]}")
    return text


def _wait_for(path: str) -> str:
    return f"while [ ! -e {shlex.quote(path)} ]; do sleep 0.01; done; cat {shlex.quote(path)}"


@dataclass
class HotBuilder:
    """A running hot builder for one site, and what its sources are."""

    engine: Engine
    site: Site
    container: Container
    baseurl: str
    keep: tuple[str, ...]  # default ignores the build kept (as `scan_context` takes them)
    config_files: tuple[str, ...]  # the site's Jekyll configuration files
    sources: dict[str, str] = field(default_factory=dict)  # path -> sha256 in /site/src
    sequence: int = 0
    resolved_lock: bool = False  # Bundler wrote /site/src/Gemfile.lock: the site has none
    written_gemfile: bool = False  # sitedeploy wrote /site/src/Gemfile: the site has none

    @classmethod
    def start(cls, engine: Engine, site: Site, images: SiteImages) -> HotBuilder:
        """Start a hot builder from the site's builder image; it warms up in the
        background (`ready` waits for it)."""
        stop_hot_builders(engine, site)
        gems = images.gems
        bundler = gems is not None and gems.way is GemsWay.BUNDLER
        # The Debian way's Jekyll gets the upstream fixes its builds get.
        ruby = ["bundle", "exec", "ruby"] if bundler else ["ruby", f"-r{FIXES_IN_BUILDER}"]
        command = [
            *ruby, f"{HOT_DIR}/driver.rb", HOT_DIR, images.jekyll_configs, images.baseurl,
            str(BROTLI_QUALITY), str(COMPRESS_MIN_BYTES), *COMPRESSIBLE,
        ]  # fmt: skip
        with engine.errors(f"Starting the hot builder of {site.name}"):
            container: Container = engine.client.containers.create(
                images.builder.tag,
                command=command,
                name=f"{site.container_name}-hot",
                labels={**site.labels, Label.ROLE: Role.HOT_BUILDER},
                working_dir="/site/src",
                network_disabled=True,
                detach=True,
            )
            files = {
                "hot/driver.rb": (docker_dir() / "jekyll/sitedeploy-hot.rb").read_bytes(),
                "hot/pack.rb": (docker_dir() / "runtime/pack.rb").read_bytes(),
            }
            container.put_archive("/site", _tar(files))
            container.start()
        configs = tuple(c for c in images.jekyll_configs.split(",") if not c.startswith("/"))
        return cls(
            engine, site, container, images.baseurl, images.kept_ignores, configs,
            resolved_lock=bundler and gems is not None and not gems.locked,
            written_gemfile=bundler and gems is not None and gems.written,
        )  # fmt: skip

    def ready(self) -> None:
        """Wait until Jekyll has built once in the builder (its caches warm)."""
        if self.sources:
            return
        text = _exec(
            self.engine,
            self.container,
            f"timeout {READY_TIMEOUT} sh -c {shlex.quote(_wait_for(HOT_DIR + '/ready.json'))}",
            "Warming up Jekyll",
        )
        self.sources = dict(json.loads(text)["sources"])
        # The build's own Gemfile and lock are not sources the site removed.
        if self.resolved_lock:
            self.sources.pop("Gemfile.lock", None)
        if self.written_gemfile:
            self.sources.pop("Gemfile", None)

    def sync(self) -> list[str]:
        """Copy the sources that differ from the builder's into it (and remove those gone);
        return what changed. Raises NotHot for a change only a full build can take (the
        site's configuration, its gems or plugins, sitedeploy.toml)."""
        context = scan_context(self.site.path, keep=self.keep)
        here = {f.path: file_sha256(self.site.path / f.path) for f in context.files}
        ignored = (".jekyll-cache/", ".jekyll-metadata", ".sass-cache/")
        theirs = {p: d for p, d in self.sources.items() if not p.startswith(ignored)}
        changed = sorted(p for p, digest in here.items() if theirs.get(p) != digest)
        removed = sorted(set(theirs) - set(here))
        for path in [*changed, *removed]:
            if _STRUCTURAL.match(path) or path in self.config_files:
                raise NotHot(f"{path} changed: the site is built afresh")
        if changed:
            files = {p: (self.site.path / p).read_bytes() for p in changed}
            with self.engine.errors("Copying the changed sources into the hot builder"):
                self.container.put_archive("/site/src", _tar(files))
        if removed:
            quoted = " ".join(shlex.quote(p) for p in removed)
            _exec(self.engine, self.container, f"cd /site/src && rm -f -- {quoted}", "Removing")
        self.sources.update({p: here[p] for p in changed})
        for path in removed:
            self.sources.pop(path, None)
        return [*changed, *removed]

    def regenerate(self, sources: list[str]) -> HotEdit | str:
        """Have Jekyll regenerate after `sources` changed. Returns the first answer: the
        edited pages alone (a HotEdit), or why they cannot go first; `whole` then gives
        the whole site's."""
        self.sequence += 1
        number = str(self.sequence)
        request = f"{HOT_DIR}/requests/{number}"
        # One exec asks and waits: the request is renamed into place whole.
        ask = (
            f"printf %s {shlex.quote(json.dumps(sources))} > {request}.new && "
            f"mv {request}.new {request} && echo > {HOT_DIR}/wake && "
            f"{_wait_for(f'{HOT_DIR}/responses/{number}.first.json')}"
        )
        answer = self._answer(ask)
        if "skipped" in answer:
            return str(answer["skipped"])
        return self._edit(f"{number}.first", answer)

    def whole(self) -> HotEdit:
        """The whole site regenerated after the last `regenerate` (JekyllFailed on Jekyll's
        error, NotHot when an output file went away: a layer cannot remove it)."""
        number = str(self.sequence)
        answer = self._answer(_wait_for(f"{HOT_DIR}/responses/{number}.json"))
        if "error" in answer:
            raise JekyllFailed(
                f"Jekyll could not build {self.site.path}:\n{answer['error']}\n"
                "Fix the file named above and save again."
            )
        if answer["removed"]:
            raise NotHot(f"{answer['removed'][0]} is no longer built: the site is built afresh")
        return self._edit(number, answer)

    def _answer(self, command: str) -> dict[str, Any]:
        text = _exec(
            self.engine,
            self.container,
            f"timeout {REGENERATE_TIMEOUT} sh -c {shlex.quote(command)}",
            "Regenerating the site",
        )
        return dict(json.loads(text))

    def _edit(self, out: str, answer: dict[str, Any]) -> HotEdit:
        changed = [str(path) for path in answer["changed"]]
        return HotEdit(
            tuple(changed),
            self._fetch(out, changed) if changed else b"",
            float(answer["jekyll_seconds"]),
            float(answer["seconds"]),
        )

    def _fetch(self, number: str, changed: list[str]) -> bytes:
        """Take the regenerated files out of the builder: the originals into the hot copy
        of `_site`, the served forms into a tar laid over /srv."""
        hot_site = cache_dir(self.site) / HOT_SITE
        out = f"{HOT_DIR}/out/{number}"
        with self.engine.errors("Copying the regenerated files out of the hot builder"):
            chunks, _stat = self.container.get_archive(out)
            data = b"".join(chunks)
        layer = io.BytesIO()
        with (
            tarfile.open(fileobj=io.BytesIO(data)) as archive,
            tarfile.open(fileobj=layer, mode="w") as served,
        ):
            for member in archive.getmembers():
                _, _, rest = member.name.partition("/")  # "<number>/orig/…" or "<number>/www/…"
                kind, _, path = rest.partition("/")
                handle = archive.extractfile(member) if member.isfile() else None
                if handle is None or not path:
                    continue
                content = handle.read()
                if kind == "orig":
                    target = hot_site / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content)
                    if path == "404.html":
                        _add(served, "srv/errors/404.html", content, member.mtime)
                elif kind == "www":
                    relative = path[len(self.baseurl.lstrip("/")) :].lstrip("/")
                    if not never_served(relative) and not member.issym():
                        _add(served, f"srv/www/{path}", content, member.mtime)
        return layer.getvalue()

    def stop(self) -> None:
        with self.engine.errors(f"Removing {self.container.name}"):
            self.container.remove(force=True)


def _add(archive: tarfile.TarFile, name: str, content: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(content), 0o644, int(mtime)
    archive.addfile(info, io.BytesIO(content))


def stop_hot_builders(engine: Engine, site: Site) -> None:
    """Remove the site's hot builders (a watch loop that ended, or the one replaced)."""
    with engine.errors("Listing hot builders"):
        found = engine.client.containers.list(all=True, filters=site_filter(site, Role.HOT_BUILDER))
    for container in found:
        with engine.errors(f"Removing {container.name}"):
            container.remove(force=True)


def start_hot_site(site: Site, built: BuiltSite) -> BuiltSite:
    """The hot copy of `_site`, which each hot edit updates (the clean build's stays)."""
    target = cache_dir(site) / HOT_SITE
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(built.root, target, symlinks=True)
    return replace(built, root=target)


def updated_site(built: BuiltSite, changed: tuple[str, ...]) -> BuiltSite:
    """`built` with the changed files' sizes and digests read again."""
    files = {f.path: f for f in built.files}
    for path in changed:
        full = built.root / path
        files[path] = BuiltFile(path, full.stat().st_size, file_sha256(full))
    return replace(built, files=tuple(sorted(files.values(), key=lambda f: f.path)))


def layered_image(
    engine: Engine,
    site: Site,
    serving: str,
    edit: HotEdit,
    extra_files: dict[str, str],
    labels: dict[str, str],
    number: int,
) -> str:
    """Commit the serving image plus the edit's files (and `extra_files`, such as a new
    csp.conf) as `sitedeploy/<site>:hot-<number>`; return the tag."""
    tag = f"hot-{number}"
    with engine.errors(f"Making {site.repository}:{tag}"):
        container: Container = engine.client.containers.create(
            serving, labels=site.labels, network_disabled=True
        )
        try:
            container.put_archive("/", edit.www)
            if extra_files:
                encoded = {p.lstrip("/"): t.encode() for p, t in extra_files.items()}
                container.put_archive("/", _tar(encoded))
            image = engine.client.images.get(serving)
            container.commit(
                repository=site.repository,
                tag=tag,
                message=f"sitedeploy hot edit {number}: {len(edit.changed)} files",
                conf={"Labels": {**dict(image.labels or {}), **labels}},
            )
        finally:
            container.remove(force=True)
    return f"{site.repository}:{tag}"
