"""Client identity (shared/domain/client.py): forwarded headers count only on this Front Door's traffic."""

from __future__ import annotations

import ipaddress

import pytest

from shared.domain.client import budget_key, client_address

FDID = "55ce4ed1-4b06-4bf1-b40e-4638452104da"


@pytest.mark.parametrize(("headers", "front_door_id", "expected"), [
    # Not from our Front Door: the peer, which the platform appends last (with or without a port).
    ({"x-forwarded-for": "203.0.113.9, 198.51.100.4:51234"}, None, "198.51.100.4"),
    ({"x-forwarded-for": "203.0.113.9", "x-azure-clientip": "203.0.113.9"}, FDID, "203.0.113.9"),
    ({"x-forwarded-for": "1.2.3.4, [2001:db8::1]:443", "x-azure-clientip": "1.2.3.4"}, None, "2001:db8::1"),
    ({"x-forwarded-for": "2001:db8::2"}, None, "2001:db8::2"),
    ({"x-forwarded-for": "1.2.3.4, 10.0.0.9", "x-azure-fdid": "another-front-door",
      "x-azure-clientip": "1.2.3.4"}, FDID, "10.0.0.9"),
    ({"x-forwarded-for": "1.2.3.4, 10.0.0.9", "x-azure-fdid": FDID, "x-azure-clientip": "1.2.3.4"}, None,
     "10.0.0.9"),  # no FRONT_DOOR_ID set: no header names the client
    # From our Front Door: its client IP, else the first forwarded entry.
    ({"x-forwarded-for": "9.9.9.9, 147.243.0.1", "x-azure-fdid": FDID.upper(), "x-azure-clientip": "5.6.7.8"},
     FDID, "5.6.7.8"),
    ({"x-forwarded-for": "9.9.9.9:1234, 147.243.0.1", "x-azure-fdid": FDID}, FDID, "9.9.9.9"),
    ({}, FDID, "unknown"),
])
def test_the_client_is_named_by_headers_only_on_our_front_doors_traffic(headers, front_door_id, expected):
    assert client_address(headers, front_door_id) == expected


GATEWAY = (ipaddress.ip_network("10.80.0.0/23"),)


@pytest.mark.parametrize(("forwarded", "expected"), [
    ("203.0.113.9, 10.80.1.4", "203.0.113.9"),  # the gateway appended its IMAP client, the platform its peer
    ("203.0.113.9, 10.80.1.4:40000", "203.0.113.9"),
    ("6.6.6.6, 203.0.113.9, 10.80.1.4", "203.0.113.9"),  # what the IMAP client itself sent is not trusted
    ("203.0.113.9, 10.80.2.1", "10.80.2.1"),  # outside the range: the peer is the client
    ("10.80.1.4", "10.80.1.4"),  # the gateway's own call: nothing before it
    ("203.0.113.9, 198.51.100.4", "198.51.100.4"),
])
def test_a_trusted_proxys_peer_address_hands_over_to_the_entry_it_appended(forwarded, expected):
    assert client_address({"x-forwarded-for": forwarded}, None, GATEWAY) == expected
    assert client_address({"x-forwarded-for": forwarded}, None) == forwarded.split(",")[-1].strip().split(":")[0]


@pytest.mark.parametrize(("address", "expected"), [
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),  # every address of a /64 is one client
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),  # the next /64 is another
    ("::ffff:203.0.113.9", "203.0.113.9"),  # an IPv4 client seen through a dual-stack socket
    ("203.0.113.9", "203.0.113.9"),
    ("not-an-address", "not-an-address"),
])
def test_a_budget_counts_an_ipv6_client_by_its_64(address, expected):
    assert budget_key(address) == expected
