"""sitedeploy: turn a Jekyll site into a small, hardened nginx container image and run it."""

__version__ = "0.1.0"
