"""The checks of sitedeploy.toml's values (and of the flags that set them): each takes a
value and returns what is wrong with it, or None. config.py's schema names one per key;
the site's own tables use them too.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from deployer.platforms import KNOWN, known

# An image reference as the distribution spec defines it: [host[:port]/]path[:tag][@digest].
COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REFERENCE = re.compile(
    rf"^(?:(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::[0-9]+)?/)?"
    rf"{COMPONENT}(?:/{COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?$"
)
SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
HTTP_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")  # a gem source, a Debian mirror


def is_image_reference(value: str) -> bool:
    """True if `value` is a well-formed image reference such as `debian:bookworm-slim`."""
    return bool(REFERENCE.match(value))


Check = Callable[[Any], str | None]  # returns a problem description, or None if fine


def string(pattern: re.Pattern[str] | None, what: str) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"expected {what}, got {value!r}"
        if pattern is not None and not pattern.match(value):
            return f"expected {what}, got {value!r}"
        return None

    return check


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"expected true or false, got {value!r}"


def image(value: Any) -> str | None:
    if isinstance(value, str) and is_image_reference(value):
        return None
    return f"expected an image reference such as 'debian:bookworm-slim', got {value!r}"


def port(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return f"expected a port number from 1 to 65535, got {value!r}"
    return None


ENGINE = re.compile(
    r"^(?:(?:ssh|tcp)://[^\s/:@]+(?:@[^\s/:@]+)?(?::[0-9]+)?|unix:///\S+|[A-Za-z0-9][\w.+-]*)$"
)


def server(value: Any) -> str | None:
    if isinstance(value, str) and ENGINE.match(value):
        return None
    return (
        "expected a Docker engine: ssh://user@host[:port], or a `docker context` name "
        f"(no password in it: SSH keys only), got {value!r}"
    )


def replicas(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        return f"expected a number of replicas from 1 to 100, got {value!r}"
    return None


def host(value: Any) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"expected an IP address to bind, such as 127.0.0.1 or 0.0.0.0, got {value!r}"
    return None


def one_of(choices: type[enum.Enum]) -> Check:
    values = [str(member.value) for member in choices]

    def check(value: Any) -> str | None:
        return None if value in values else f"expected one of {', '.join(values)}, got {value!r}"

    return check


def string_list(item: Check, what: str) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, list | tuple):
            return f"expected a list of {what}, got {value!r}"
        for element in value:
            problem = item(element)
            if problem:
                return problem
        return None

    return check


def gem_source(value: Any) -> str | None:
    if not isinstance(value, str) or not HTTP_URL.match(value):
        return f"expected the http(s) URL of a gem source, got {value!r}"
    if "@" in value.split("/")[2]:
        # It would end up in the builder image's Bundler config: never a password there.
        return "a gem source URL with credentials is refused (they would be stored in the image)"
    return None


def mirror(value: Any) -> str | None:
    if isinstance(value, str) and HTTP_URL.match(value):
        return None
    return f"expected an http(s) URL of a Debian mirror, got {value!r}"


def platform_name(value: Any) -> str | None:
    if isinstance(value, str) and known(value) is not None:
        return None
    return f"expected one of {', '.join(KNOWN)}, got {value!r}"
