from __future__ import annotations

from typing import Any

from deployer.engine import Engine
from deployer.ship.host import public_url

NO_CLIENT: Any = None  # public_url reads the engine's address only


def test_a_server_listening_everywhere_is_reached_by_its_name() -> None:
    server = Engine(client=NO_CLIENT, host="ssh://deploy@203.0.113.7:2222")
    assert public_url(server, "0.0.0.0", 80) == "http://203.0.113.7"
    assert public_url(server, "0.0.0.0", 8080) == "http://203.0.113.7:8080"
    assert (
        public_url(Engine(NO_CLIENT, "ssh://root@[2001:db8::7]"), "::", 80)
        == "http://[2001:db8::7]"
    )


def test_an_address_asked_for_or_this_machine_is_shown_as_it_is() -> None:
    server = Engine(client=NO_CLIENT, host="ssh://deploy@203.0.113.7")
    assert public_url(server, "10.0.0.5", 80) == "http://10.0.0.5:80"
    here = Engine(client=NO_CLIENT, host="unix:///var/run/docker.sock")
    assert public_url(here, "0.0.0.0", 80) == "http://127.0.0.1:80"


def test_over_https_the_certificate_names_the_site() -> None:
    server = Engine(client=NO_CLIENT, host="ssh://deploy@203.0.113.7")
    names = ("*.example.com", "example.com")
    assert public_url(server, "0.0.0.0", 443, https=True, names=names) == "https://example.com"
    here = Engine(client=NO_CLIENT, host="unix:///var/run/docker.sock")
    assert (
        public_url(here, "127.0.0.1", 8443, https=True, names=("example.test",))
        == "https://example.test:8443"
    )
    assert public_url(here, "127.0.0.1", 8443, https=True) == "https://127.0.0.1:8443"
