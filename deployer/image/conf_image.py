"""A site's own nginx files, as a one-layer image its final stage copies from.

The files are known only once Jekyll has built the pages (the Content-Security-Policy is
derived from them), and a per-page policy map can be far larger than a Dockerfile line or
a label may be. `docker import` of a tar holding just these files makes an image named by
their content, `sitedeploy/<site>-conf:<hash>`, and the site Dockerfile's nginx stage copies
it with `COPY --from`, so the recipe still explains every layer of the final image.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from deployer.engine import Engine
from deployer.labels import Label, Role, content_tag
from deployer.site import Site


def _archive(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        folders = sorted({path.rsplit("/", 1)[0] for path in files})
        for folder in folders:
            parts = folder.strip("/").split("/")
            for depth in range(1, len(parts) + 1):
                info = tarfile.TarInfo("/".join(parts[:depth]))
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                if info.name not in archive.getnames():
                    archive.addfile(info)
        for path, text in sorted(files.items()):
            data = text.encode("utf-8")
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def conf_image(engine: Engine, site: Site, files: dict[str, str]) -> str:
    """The tag of an image holding `files` (absolute path -> text), imported if missing."""
    digest = hashlib.sha256()
    for path, text in sorted(files.items()):
        digest.update(f"{path}\0{len(text)}\0".encode() + text.encode("utf-8"))
    suffix = content_tag(digest.hexdigest())
    tag = f"{site.conf_repository}:{suffix}"
    if engine.find_image(tag) is not None:
        return tag
    labels = {**site.labels, Label.ROLE: Role.SITE_CONF}
    changes = ["LABEL " + " ".join(f"{key}={json.dumps(value)}" for key, value in labels.items())]
    with engine.errors(f"Importing the site's nginx files as {tag}"):
        engine.api.import_image_from_data(
            _archive(files), repository=site.conf_repository, tag=suffix, changes=changes
        )
    return tag
