"""Webhooks reach public addresses only: refused when configured and again before each delivery."""

from __future__ import annotations

import ipaddress

import pytest
from fastapi.testclient import TestClient

from agentmem.jobs.outbound import AllowList, DestinationRefused, check_configured, destination, is_public, refusal
from agentmem.jobs.webhook import post_json
from conftest import Tenant
from webhook_server import receiver

NOT_PUBLIC = ["127.0.0.1", "127.8.9.10", "169.254.169.254", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1",
              "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
              # IPv6 that carries an IPv4 address (NAT64, IPv4-compatible, IPv4-translated, 6to4), site-local
              "64:ff9b::7f00:1", "64:ff9b::a00:1", "::127.0.0.1", "::ffff:0:7f00:1", "2002:7f00:1::", "fec0::1"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    assert refusal("hook.example", [address], AllowList()) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8", "64:ff9b::808:808"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))
    assert refusal("hook.example", [address], AllowList()) is None


def test_one_bad_address_among_good_ones_refuses_the_name() -> None:
    assert refusal("hook.example", ["8.8.8.8", "10.0.0.1"], AllowList()) is not None


def test_the_operator_allow_list_names_hosts_addresses_and_networks() -> None:
    allow = AllowList.parse("hooks.internal, 10.1.2.0/24 ,127.0.0.1")
    assert refusal("hooks.internal", ["10.9.9.9"], allow) is None  # a named host, whatever it resolves to
    assert refusal("a.example", ["10.1.2.77"], allow) is None
    assert refusal("a.example", ["127.0.0.1"], allow) is None
    assert refusal("a.example", ["10.1.3.1"], allow) is not None


def test_a_name_that_later_resolves_to_a_private_address_is_refused_at_send() -> None:
    """DNS can change between configuration and delivery: the check runs again, and nothing is sent."""
    answers = {"now": ["93.184.216.34"]}
    check_configured("https://hook.example/x", AllowList(), lambda host, port: answers["now"])
    answers["now"] = ["169.254.169.254"]
    with pytest.raises(DestinationRefused, match="address not allowed"):
        destination("https://hook.example/x", AllowList(), lambda host, port: answers["now"])
    delivery = post_json("https://hook.example/x", {"a": 1}, timeout=1, attempts=3, backoff=0,
                         resolve=lambda host, port: answers["now"], sleep=lambda s: None)
    assert (delivery.delivered, delivery.attempts, delivery.status) == (False, 1, "failed: address not allowed")


def test_a_real_local_receiver_is_not_called_unless_allowed() -> None:
    with receiver() as rec:
        refused = post_json(rec.url, {"a": 1}, timeout=2, attempts=2, backoff=0, sleep=lambda s: None)
        allowed = post_json(rec.url, {"a": 1}, timeout=2, attempts=2, backoff=0, sleep=lambda s: None,
                            allow=AllowList.parse("127.0.0.1"))
    assert refused.status == "failed: address not allowed" and not refused.delivered
    assert allowed.delivered and rec.received == [{"a": 1}]


def test_the_delivery_connects_to_the_checked_address() -> None:
    """The name is resolved once, by the check; the connection goes to that address (no second lookup)."""
    with receiver() as rec:
        port = rec.url.split(":")[2].split("/")[0]
        url = f"http://hooks.internal:{port}/hook"  # a name no DNS knows: only the checked answer is used
        delivery = post_json(url, {"b": 2}, timeout=2, attempts=1, backoff=0, allow=AllowList.parse("hooks.internal"),
                             resolve=lambda host, p: ["127.0.0.1"])
    assert delivery.delivered and rec.received == [{"b": 2}]
    assert rec.headers[0]["Host"] == f"hooks.internal:{port}"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://169.254.169.254/latest/meta-data",
                                 "https://10.0.0.1/x", "http://[::1]:9/x", "http://localhost:9/x"])
def test_configuring_a_non_public_webhook_is_refused(url: str, client: TestClient, tenant: Tenant) -> None:
    r = client.put("/settings/alerting", json={"webhook_url": url}, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert "not a public address" in r.text and "AGENTMEM_WEBHOOK_ALLOW_HOSTS" in r.text
    assert client.get("/settings/alerting", headers=tenant.headers).json()["webhook_url"] is None


@pytest.mark.parametrize("url", ["http://" + "a" * 64 + ".com/", "http://example..com/", "http://./",
                                 "http://.example.com/", "http://\u0080.com/", "http://8.8.8.8:0/"])
def test_a_host_that_is_not_a_valid_name_is_422_not_500(url: str, client: TestClient, tenant: Tenant) -> None:
    r = client.put("/settings/alerting", json={"webhook_url": url}, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert client.get("/settings/alerting", headers=tenant.headers).json()["webhook_url"] is None
