"""Webhooks go to public addresses only: private, loopback (unless allowed),
link-local, multicast and reserved targets are refused, after resolving the name."""

import pytest

from webhooks import addresses, delivery, transport
from webhooks.addresses import RefusedURL, check_url
from webhooks.checks import check_loopback_allowed
from webhooks.forms import EndpointForm
from webhooks.models import Delivery, Endpoint

from .conftest import buy


@pytest.fixture
def dns(monkeypatch):
    """Fake DNS: host -> addresses."""
    table: dict[str, list[str]] = {}

    def resolve(host, port):
        if host in table:
            return table[host]
        raise OSError("no such host")

    monkeypatch.setattr(addresses, "resolve", resolve)
    return table


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.0.5/hook", "private"),
        ("https://172.16.0.1/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://0.0.0.0/hook", "reserved"),
        ("https://240.0.0.1/hook", "reserved"),
        ("https://100.64.0.1/hook", "not a public"),
        ("https://[fd00::1]/hook", "private"),
        ("https://[::ffff:10.0.0.1]/hook", "private"),
    ],
)
def test_private_and_special_addresses_are_refused(url, why):
    with pytest.raises(RefusedURL, match=why):
        check_url(url, allow_loopback=True)


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1/hook", "https://[::1]/hook", "http://127.0.0.1:8000/"]
)
def test_loopback_is_refused_unless_allowed(url):
    with pytest.raises(RefusedURL, match="loopback"):
        check_url(url, allow_loopback=False)
    assert check_url(url, allow_loopback=True).addresses[0] in {"127.0.0.1", "::1"}


def test_a_name_resolving_to_a_private_address_is_refused(dns):
    dns["hooks.example.com"] = ["93.184.216.34", "10.0.0.7"]  # one bad answer is enough
    with pytest.raises(RefusedURL, match=r"private address \(10\.0\.0\.7\)"):
        check_url("https://hooks.example.com/in", allow_loopback=True)
    dns["local.example.com"] = ["127.0.0.1"]
    with pytest.raises(RefusedURL, match="loopback"):
        check_url("https://local.example.com/in", allow_loopback=False)


def test_a_public_name_gives_the_checked_addresses_to_connect_to(dns):
    dns["hooks.example.com"] = ["93.184.216.34", "2606:2800:220:1::1"]
    target = check_url("https://hooks.example.com:8443/in?x=1", allow_loopback=False)
    assert target.addresses == ("93.184.216.34", "2606:2800:220:1::1")
    assert (target.host, target.port, target.path) == ("hooks.example.com", 8443, "/in?x=1")


def test_plain_http_only_to_an_allowed_loopback(dns):
    dns["hooks.example.com"] = ["93.184.216.34"]
    with pytest.raises(RefusedURL, match="https"):
        check_url("http://hooks.example.com/in", allow_loopback=True)
    for bad in ["ftp://hooks.example.com/", "https://user:pw@hooks.example.com/", "https:///x"]:
        with pytest.raises(RefusedURL):
            check_url(bad, allow_loopback=True)


def test_an_unresolvable_name_is_refused(dns):
    with pytest.raises(RefusedURL, match="could not be resolved"):
        check_url("https://nowhere.invalid/", allow_loopback=True)


def test_the_endpoint_form_says_why(settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    form = EndpointForm({"url": "https://[::1]/hook", "event_types": ["sale.completed"]})
    assert not form.is_valid()
    assert "loopback" in form.errors["url"][0]


@pytest.mark.django_db(transaction=True)
def test_a_name_that_turns_private_after_it_was_saved_gets_no_request(
    client, seller, receiver, dns, monkeypatch
):
    """DNS rebinding: checked at every attempt, and the connection goes to the checked
    address, never to a second lookup."""
    author, book = seller
    dns["hooks.example.com"] = ["127.0.0.1"]
    endpoint = Endpoint.objects.create(
        author=author,
        url="http://hooks.example.com/x",
        event_types=["sale.completed"],
        secret="whsec_AAAA",
    )
    buy(client, book)
    dns["hooks.example.com"] = ["10.0.0.9"]
    posted = []
    monkeypatch.setattr(transport, "post", lambda *a, **k: posted.append(a))
    attempt = delivery.send(Delivery.objects.get(endpoint=endpoint).pk)
    assert posted == []
    assert attempt.status_code is None and "private address" in attempt.error


def test_the_request_goes_to_the_checked_address_under_the_urls_name(receiver):
    """No second lookup: the name need not even resolve; TLS and Host use the name."""
    target = addresses.Target(
        "http", "hooks.example.com", receiver.server.server_port, "/in", ("127.0.0.1",)
    )
    response = transport.post(target, b"{}", {"webhook-id": "msg_1"}, timeout=5)
    assert response.status_code == 200
    assert (
        receiver.requests[0]["headers"]["Host"]
        == f"hooks.example.com:{receiver.server.server_port}"
    )


def test_redirects_are_not_followed(receiver):
    receiver.statuses = [302]
    target = check_url(receiver.url)
    response = transport.post(target, b"{}", {}, timeout=5)
    assert response.status_code == 302 and not response.ok
    assert len(receiver.requests) == 1


def test_check_deploy_warns_when_loopback_is_allowed_in_production(settings):
    settings.DEBUG = False
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    assert [w.id for w in check_loopback_allowed()] == ["webhooks.W001"]
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    assert check_loopback_allowed() == []
