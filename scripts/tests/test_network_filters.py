"""bedrock.core's network filters: what the firewall opens, derived from what the roles serve, and the lock-out
check's address test. Pure functions, run here without a host."""

import importlib.util
import os

from conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "bedrock_network", os.path.join(REPO, "collections/ansible_collections/bedrock/core/plugins/filter/network.py"))
network = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(network)

BASE = {"ssh_port": 22, "ssh_sources": ["198.51.100.0/24"], "peers": {}, "pgbouncer": None, "postgresql": None,
        "extra": []}


def by_name(openings):
    return {o["name"]: o for o in openings}


def test_a_host_that_serves_nothing_wide_opens_ssh_only():
    openings = network.firewall_openings(BASE)
    assert [o["name"] for o in openings] == ["ssh"]
    assert openings[0]["ipv4"] == ["198.51.100.0/24"] and openings[0]["ipv6"] == []
    # PgBouncer and PostgreSQL on loopback: no opening, whatever their sources say.
    spec = {**BASE, "pgbouncer": {"wide": False, "port": 6432, "sources": ["10.0.0.0/8"]},
            "postgresql": {"listen_addresses": "localhost", "port": 5432, "hba_addresses": ["10.0.0.0/8"]}}
    assert [o["name"] for o in network.firewall_openings(spec)] == ["ssh"]


def test_wide_listeners_open_to_their_own_sources_and_loopback_entries_are_left_out():
    spec = {**BASE, "pgbouncer": {"wide": True, "port": 6432, "sources": ["10.1.0.5", "2001:db8::/64"]},
            "postgresql": {"listen_addresses": "*", "port": 5432,
                           "hba_addresses": ["127.0.0.1/32", "::1/128", "samehost", "10.2.0.0/16"]}}
    openings = by_name(network.firewall_openings(spec))
    assert openings["pgbouncer"]["port"] == 6432
    assert openings["pgbouncer"]["ipv4"] == ["10.1.0.5/32"] and openings["pgbouncer"]["ipv6"] == ["2001:db8::/64"]
    assert openings["postgresql"]["ipv4"] == ["10.2.0.0/16"] and openings["postgresql"]["ipv6"] == []
    assert network.firewall_problems(spec) == []


def test_an_opening_to_no_one_and_samenet_are_refused():
    spec = {**BASE, "pgbouncer": {"wide": True, "port": 6432, "sources": []},
            "postgresql": {"listen_addresses": "0.0.0.0", "port": 5432, "hba_addresses": ["127.0.0.1/32", "samenet"]}}
    problems = network.firewall_problems(spec)
    assert any(p.startswith("pgbouncer: port 6432 would be open to no one: pgbouncer_client_sources") for p in problems)
    assert any(p.startswith("postgresql: port 5432 would be open to no one") for p in problems)
    assert any("samenet" in p for p in problems)
    assert network.firewall_problems({**BASE, "ssh_sources": []})[0].startswith("ssh: port 22 would be open to no one: firewall_ssh_sources")


def test_peers_are_added_to_ssh_and_overlapping_sources_collapse():
    spec = {**BASE, "ssh_sources": ["0.0.0.0/0", "::/0"], "peers": {"store": "10.231.77.10", "db2": "localhost"}}
    ssh = network.firewall_openings(spec)[0]
    # One set per family without overlaps: nft refuses intervals that overlap in one set.
    assert ssh["ipv4"] == ["0.0.0.0/0"] and ssh["ipv6"] == ["::/0"]
    narrow = network.firewall_openings({**BASE, "peers": {"store": "10.231.77.10"}})[0]
    assert narrow["ipv4"] == ["10.231.77.10/32", "198.51.100.0/24"]
    assert "store" in narrow["why"]
    unresolved = network.firewall_problems({**BASE, "peers": {"db9": "no-such-host.invalid"}})
    assert unresolved and "db9" in unresolved[0] and "no-such-host.invalid" in unresolved[0]


def test_extra_rules_and_bad_sources():
    spec = {**BASE, "extra": [{"name": "node_exporter", "port": 9100, "protocol": "tcp", "sources": ["10.9.0.0/24"]},
                              {"name": "bad", "port": 9200, "sources": ["everywhere"]}]}
    openings = by_name(network.firewall_openings(spec))
    assert openings["firewall_extra_rules[0] (node_exporter)"]["ipv4"] == ["10.9.0.0/24"]
    problems = network.firewall_problems(spec)
    assert any("'everywhere' is no address or network" in p for p in problems)


def test_the_address_a_run_connects_from_is_admitted_or_not():
    assert network.address_admitted("198.51.100.7", ["198.51.100.0/24"])
    assert not network.address_admitted("203.0.113.7", ["198.51.100.0/24", "2001:db8::/32"])
    assert network.address_admitted("2001:db8::1", ["2001:db8::/32"])
    assert network.address_admitted("::ffff:198.51.100.7", ["198.51.100.0/24"])
    assert not network.address_admitted("", ["0.0.0.0/0"])
