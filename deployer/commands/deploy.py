"""`sitedeploy deploy --swarm`: publish (or reuse) the image, roll it out on the swarm.

The image every node runs is the one `publish` pushed, pinned to its digest; the swarm's
own rolling update and rollback do the rest (ship/swarm.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deployer.commands.publish import publish
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import ConfigError, RolledBack
from deployer.progress import Progress
from deployer.ship.publish import PublishSettings
from deployer.ship.swarm import SwarmResult, SwarmStatus, deploy_swarm, swarm_status
from deployer.site import Site


@dataclass(frozen=True)
class DeploySettings:
    publish: PublishSettings
    replicas: int = 3
    port: int = 8080


@dataclass(frozen=True)
class DeployResult:
    image: str  # REGISTRY/REPOSITORY@sha256:…
    rollout: SwarmResult
    status: SwarmStatus

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.rollout.rolled_back,
            "seconds": round(self.rollout.seconds, 2),
            "rolled_back": self.rollout.rolled_back,
            **self.status.as_dict(),
        }


def deploy(
    engine: Engine, site: Site, config: SiteConfig, progress: Progress, settings: DeploySettings
) -> DeployResult:
    """Publish the site's image and make the swarm serve it on `settings.port`.

    Raises RolledBack (with the state after the rollback) when the new version failed its
    health check; the deploy keeps serving the previous one.
    """
    if settings.publish.dry_run:
        raise ConfigError("deploy --swarm pushes the image every node pulls; it has no dry run.")
    registry, repository = settings.publish.target(config, "deploy --swarm")
    published = publish(engine, site, config, progress, settings.publish)
    image = f"{registry}/{repository}@{published.digest}"
    rollout = deploy_swarm(
        engine, site, image, replicas=settings.replicas, port=settings.port, progress=progress
    )
    result = DeployResult(image, rollout, swarm_status(engine, site))
    if rollout.rolled_back:
        raise RolledBack(
            f"{image} did not pass its health check, so the swarm rolled back to "
            f"{result.status.image}; the deploy keeps serving the previous version.",
            result.as_dict(),
        )
    return result
