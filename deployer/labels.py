"""Every label key we write (`io.sitedeploy.*`, and the OCI spec's) and the tag rules of
sitedeploy's shared images, declared once.

Labels are how sitedeploy finds its containers again (`status`, `down`) and how an image
carries its own history through any registry (`inspect`). Whoever writes a label and
whoever reads it back both take the key from here; so does every tag that is derived from
a content hash.
"""

from __future__ import annotations

import enum

PREFIX = "io.sitedeploy"


class Label(enum.StrEnum):
    """The keys. Members are strings, so they index label dictionaries directly."""

    # Whose is it: on every container, network, volume and image made for a site.
    SITE_ID = f"{PREFIX}.site-id"
    SITE_PATH = f"{PREFIX}.site-path"
    ROLE = f"{PREFIX}.role"
    # A preview's containers: where the front listens, its layout, a server's socket slot.
    ADDRESS = f"{PREFIX}.address"  # "HOST PORT"
    HTTPS_PORT = f"{PREFIX}.https-port"  # a live front's HTTPS port (absent: plain HTTP)
    RENEWER_SETTINGS = f"{PREFIX}.renewer-settings"  # the renewer's settings, hashed
    CERTIFICATE = f"{PREFIX}.certificate"  # JSON: a swarm front's certificate (public part)
    FRONT_LAYOUT = f"{PREFIX}.front-layout"
    SLOT = f"{PREFIX}.slot"
    # What a site image was built from.
    CONTENT_HASH = f"{PREFIX}.content-hash"
    BASEURL = f"{PREFIX}.baseurl"
    SITE_URL = f"{PREFIX}.site-url"
    VERSION = f"{PREFIX}.version"
    RUNTIME = f"{PREFIX}.runtime"  # the nginx runtime image's id
    DOCKERFILE = f"{PREFIX}.dockerfile"
    RUNTIME_DOCKERFILE = f"{PREFIX}.runtime-dockerfile"
    PLATFORM = f"{PREFIX}.platform"  # the CPU the runtime's files are for (linux/arm64)
    HEADERS = f"{PREFIX}.headers"
    CSP = f"{PREFIX}.csp"  # JSON: the policy, and where each allowed source came from
    REDIRECTS = f"{PREFIX}.redirects"  # JSON [[uri, status, target], …] the image answers
    HOT_EDITS = f"{PREFIX}.hot-edits"  # edit layers over the clean build (`up --watch`)
    GEMS_WAY = f"{PREFIX}.gems.way"  # bundler or debian
    GEMS = f"{PREFIX}.gems"  # JSON [[name, version, where from], …]
    # The bill of materials.
    SBOM_FILES = f"{PREFIX}.sbom.files"
    SBOM_PACKAGES = f"{PREFIX}.sbom.packages"
    SITE_FILES = f"{PREFIX}.site.files"
    SITE_BYTES = f"{PREFIX}.site.bytes"
    SITE_SHA256 = f"{PREFIX}.site.sha256"
    # A bootstrapped Debian base (set by `docker import`); site images copy them per stage.
    BOOTSTRAP_SUITE = f"{PREFIX}.bootstrap.suite"
    BOOTSTRAP_MIRROR = f"{PREFIX}.bootstrap.mirror"
    BOOTSTRAP_ROOTFS = f"{PREFIX}.bootstrap.rootfs-sha256"
    # The OCI image spec's own keys (what registries and other tools show).
    TITLE = "org.opencontainers.image.title"
    CREATED = "org.opencontainers.image.created"


BOOTSTRAP_KEYS = {
    Label.BOOTSTRAP_SUITE: "suite",
    Label.BOOTSTRAP_MIRROR: "mirror",
    Label.BOOTSTRAP_ROOTFS: "rootfs-sha256",
}


class BaseStage(enum.StrEnum):
    """The build stages whose base image a site image records."""

    BUILDER = "builder-base"
    NGINX = "nginx-base"


def base(stage: BaseStage, key: str = "") -> str:
    """A base label: `base(BaseStage.NGINX)` is "requested image id";
    `base(BaseStage.NGINX, "suite")` is the bootstrapped suite of that stage's base."""
    return f"{PREFIX}.{stage}.{key}" if key else f"{PREFIX}.{stage}"


class Role(enum.StrEnum):
    """What a labelled container or image is for (the ROLE label's value)."""

    FRONT = "front"  # the preview's front, owns the user's port
    SERVER = "server"  # a preview's site container
    BUILDER = "builder"  # the Jekyll stage image
    SITE = "site"  # the final nginx image
    SITE_CONF = "site-conf"  # the site's own nginx files (csp.conf …), copied into SITE
    RUNTIME = "runtime"  # the shared nginx runtime image
    RUNTIME_BUILD = "nginx-build"  # the Debian stage the runtime's files came from
    RUNTIME_TOOLS = "tools"  # the precompressor and the runtime's SBOM table
    HOT_BUILDER = "hot-builder"  # `up --watch`: Jekyll kept warm between saves
    SWARM_SITE = "swarm-site"
    SWARM_FRONT = "swarm-front"
    RENEWER = "renewer"  # a live site's certificate renewer (image and container)
    CERTIFICATES = "certificates"  # its certificate volumes (no site id: `remove` keeps them)


# --- tags ---------------------------------------------------------------------------

RUNTIME_REPOSITORY = "sitedeploy/nginx-runtime"
RENEWER_REPOSITORY = "sitedeploy/acme-renewer"
BOOTSTRAP_REPOSITORY = "sitedeploy/debian"
LATEST = "latest"


def content_tag(content_hash: str) -> str:
    """The tag of a content hash: its first 12 hex digits (the same inputs, the same tag)."""
    return content_hash[:12]


def runtime_tag(inputs_hash: str) -> str:
    """The shared nginx runtime image for a hash of its inputs."""
    return f"{RUNTIME_REPOSITORY}:{inputs_hash[:12]}"


def runtime_companion(runtime: str, role: Role) -> str:
    """The runtime's companion images: `<runtime>-build` and `<runtime>-tools`."""
    suffix = {Role.RUNTIME_BUILD: "build", Role.RUNTIME_TOOLS: "tools"}[role]
    return f"{runtime}-{suffix}"


def bootstrap_tag(suite: str) -> str:
    return f"{BOOTSTRAP_REPOSITORY}:{suite}"
