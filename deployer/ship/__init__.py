"""Stage 4, ship: the image to a registry, then onto an existing engine (Docker Swarm,
Kubernetes manifests).

Entries: `deployer.ship.publish.publish`, `deployer.ship.deploy.deploy`,
`deployer.ship.k8s.k8s_manifests`.
"""
