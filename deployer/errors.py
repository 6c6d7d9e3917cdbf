"""Every error sitedeploy reports to a user.

Each subclass is one kind of failure. They are `click.ClickException`s, so the CLI shows
one paragraph and exits non-zero instead of printing a traceback. The message names the
file, flag or resource at fault and says how to fix it.
"""

from __future__ import annotations

from typing import Any

import click


class SitedeployError(click.ClickException):
    """Base class: a failure with a message written for the user (click prints it as
    "Error: …" on stderr and exits 1)."""

    def details(self) -> dict[str, Any]:
        """What `--json` reports besides the message (the state the failure left)."""
        return {}


class ConfigError(SitedeployError):
    """sitedeploy.toml, a flag or _config.yml holds a value we cannot use."""


class SiteNotFound(SitedeployError):
    """The SITE argument is not a Jekyll site folder."""


class DestinationExists(SitedeployError):
    """`new` was asked to write into a folder that already has content."""


class EngineUnavailable(SitedeployError):
    """The Docker daemon cannot be reached."""


class EngineError(SitedeployError):
    """The Docker daemon refused or failed a request."""


class BaseImageError(SitedeployError):
    """A configured base image is neither local, pullable, nor bootstrappable."""


class PluginUnavailable(SitedeployError):
    """The site asks for a Jekyll plugin or theme that no Debian package provides."""


class ContextError(SitedeployError):
    """The build context (the site folder) cannot be sent to the daemon."""


class BuildFailed(SitedeployError):
    """`docker build` failed outside of Jekyll (packages, base image, engine)."""


class GemsFailed(SitedeployError):
    """`bundle install` failed: a lock that does not match, a gem no source has, …"""


class JekyllFailed(SitedeployError):
    """`jekyll build` failed; the message carries Jekyll's own error."""


class PortUnavailable(SitedeployError):
    """The preview port is taken by something that is not this site's preview."""


class PreviewFailed(SitedeployError):
    """The preview container did not start or did not become healthy."""


class TimedOut(SitedeployError):
    """Something sitedeploy waited for did not happen in time (waiting.wait_until)."""


class NotRunning(SitedeployError):
    """A command needs the site's preview, and none is running."""


class SiteBusy(SitedeployError):
    """Another sitedeploy process is deploying the same site."""


class DiskFull(SitedeployError):
    """The Docker data folder has no room for the build."""


class BrowserUnavailable(SitedeployError):
    """`--browser` was asked for, and Chromium or Playwright is missing."""


class RegistryError(SitedeployError):
    """The registry cannot be reached, refuses us, is not a registry, or lost the push."""


class SwarmError(SitedeployError):
    """The swarm is not there, or a swarm deploy did not converge."""


class RolledBack(SwarmError):
    """The new version failed its health check, and the swarm rolled back to the old one."""

    def __init__(self, message: str, state: dict[str, Any]) -> None:
        super().__init__(message)
        self.state = state

    def details(self) -> dict[str, Any]:
        return self.state


class SassUnsupported(SitedeployError):
    """The site's Sass needs Dart Sass, and the build compiles with libsass."""


class CertificateError(SitedeployError):
    """A certificate could not be had: a given one is unusable, or ACME refused."""


class SigningError(SitedeployError):
    """An image could not be signed, or its signature does not hold: no key or password,
    unsigned, signed by another key, or signed for another digest."""
