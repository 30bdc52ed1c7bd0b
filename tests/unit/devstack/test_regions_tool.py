"""`make run REGIONS=2`: each local region's settings make a valid, distinct region that names
every other one as a replication peer, on storage of its own."""

from __future__ import annotations

import base64
import json

from devstack import localstack
from devstack.regions import region_settings
from shared.config import load_settings
from tests.support import ROOT


def settings_of(number: int, regions: int):
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    env = {**example, "PLATFORM_KEY_HASHES": "a" * 64, "TOKEN_SIGNING_KEY": base64.b64encode(b"k" * 32).decode(),
           "PIN_PEPPER": base64.b64encode(b"p" * 32).decode(),
           **region_settings(number, regions)}
    return load_settings(env)


def test_two_regions_are_distinct_and_peer_with_each_other():
    one, two = settings_of(1, 2), settings_of(2, 2)
    assert (one.region, two.region) == ("local1", "local2")
    assert one.regions == ("local1", "local2") and two.regions == ("local2", "local1")  # own region first
    assert region_settings(1, 2)["DURABLE_TASK_HUB"] != region_settings(2, 2)["DURABLE_TASK_HUB"]
    assert one.storage.connection_string != two.storage.connection_string
    assert set(one.replication.peer_storage) == {"local2"} and set(two.replication.peer_storage) == {"local1"}
    # The peer is the other's own account.
    assert one.replication.peer_storage["local2"] == two.storage.connection_string
    assert f":{localstack.region_storage_ports(2)[0]}/" in two.storage.connection_string


def test_the_second_region_has_an_azurite_and_a_cosmos_emulator_of_its_own_kept_in_step():
    services = {service.name for service in localstack.default_services(regions=2)}
    assert services == {"azurite", "azurite-2", "cosmos", "cosmos-2", "replicator", "smtp"}
    assert localstack.region_storage_ports(2) == (10010, 10011, 10012)
    assert localstack.region_cosmos_port(2) == 8082
    assert {service.name for service in localstack.default_services(regions=1)} == {"azurite", "cosmos", "smtp"}
