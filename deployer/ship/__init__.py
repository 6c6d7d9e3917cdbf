"""Stage 4, ship: the image to a registry, then onto an existing engine (Docker Swarm,
Kubernetes manifests).

Entries: `deployer.ship.publish.push_site`, `deployer.ship.swarm.deploy_swarm`,
`deployer.ship.k8s.k8s_yaml`.
"""
