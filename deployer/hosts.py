"""Host names as `HOST[:PORT]` strings name them (registries, gem sources)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def hostname(host: str) -> str:
    """`registry.example.com:5000` -> `registry.example.com`; `[::1]:5000` -> `::1`."""
    return urlsplit(f"//{host}").hostname or host


def is_loopback(host: str) -> bool:
    name = hostname(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
