# -*- coding: utf-8 -*-
# Bedrock: what the firewall opens, derived from what the other roles serve (their checked values), and whether an
# address is among a rule's sources. The firewall role's pre-flight step and its template read these; no port is
# listed by hand.
from __future__ import annotations

import ipaddress
import socket

DOCUMENTATION = r"""
name: firewall_openings
short_description: The ports a host opens and to whom, derived from what its roles serve
description:
  - "O(_input) holds ssh_port, ssh_sources, peers (inventory host -> address or name: the hosts that reach this one
    over SSH for Bedrock itself), pgbouncer (wide, port, sources; or null), postgresql (listen_addresses, port,
    hba_addresses; or null) and extra (firewall_extra_rules)."
  - Returns one opening per port, each with name, port, protocol, ipv4 and ipv6 (networks, overlaps merged) and why.
    firewall_problems returns what is wrong with the same input (one sentence each); address_admitted whether an
    address lies in a list of addresses and networks.
options:
  _input: {description: What the host serves (see above)., type: dict, required: true}
"""

RETURN = r"""
_value: {description: The openings., type: list, elements: dict}
"""

LOOPBACK_LISTEN = {"localhost", "127.0.0.1", "::1", ""}


def _network(text):
    return ipaddress.ip_network(str(text).strip(), strict=False)


def _resolve(address):
    """An address as a /32 or /128 network; a name resolved on the controller."""
    try:
        return [_network(address)]
    except ValueError:
        pass
    try:
        found = {info[4][0] for info in socket.getaddrinfo(str(address), None, proto=socket.IPPROTO_TCP)}
    except OSError:
        return None
    return [_network(a) for a in sorted(found)]


def _families(networks):
    """IPv4 and IPv6 networks apart, overlaps merged (nft refuses overlapping intervals in one set)."""
    return {family: sorted(str(n) for n in ipaddress.collapse_addresses(n for n in networks if n.version == version))
            for family, version in (("ipv4", 4), ("ipv6", 6))}


def _openings(spec):
    """(openings, problems)."""
    problems, openings = [], []

    def opening(name, port, protocol, sources, why, sources_from):
        nets = []
        for source in sources:
            try:
                nets.append(_network(source))
            except ValueError:
                problems.append(f"{name}: {source!r} is no address or network (10.0.0.0/24, 2001:db8::/64).")
        openings.append({"name": name, "port": int(port), "protocol": protocol, **_families(nets), "why": why})
        if not nets:
            problems.append(f"{name}: port {port} would be open to no one: {sources_from} names no address or network"
                            + ("" if name == "ssh" else "; name the clients, or do not listen beyond the host") + ".")

    peers = []
    for host, address in sorted((spec.get("peers") or {}).items()):
        resolved = _resolve(address)
        if not resolved:
            problems.append(f"firewall: the SSH opening for {host} needs its address; its ansible_host {address!r} "
                            "does not resolve on the controller.")
        else:
            peers += [str(n) for n in resolved]
    opening("ssh", spec["ssh_port"], "tcp", list(spec.get("ssh_sources") or []) + peers,
            "firewall_ssh_sources" + (", and the inventory hosts that reach this one over SSH for Bedrock ("
                                      + ", ".join(sorted(spec["peers"])) + ")" if spec.get("peers") else ""),
            "firewall_ssh_sources")
    bouncer = spec.get("pgbouncer")
    if bouncer and bouncer.get("wide"):
        opening("pgbouncer", bouncer["port"], "tcp", bouncer.get("sources") or [],
                "PgBouncer listens wide (pgbouncer_listen_wide): pgbouncer_client_sources", "pgbouncer_client_sources")
    pg = spec.get("postgresql")
    if pg and pg.get("listen_addresses", "localhost").strip() not in LOOPBACK_LISTEN:
        remote = []
        for address in pg.get("hba_addresses") or []:
            if address in ("samehost",):
                continue
            if address == "samenet":
                problems.append("postgresql_hba_entries: an entry's address samenet cannot be opened by the "
                                "firewall (which networks it means is decided at each connection): name the network.")
                continue
            try:
                net = _network(address)
            except ValueError:
                continue  # its own rule refuses it
            if not net.is_loopback:
                remote.append(str(net))
        opening("postgresql", pg["port"], "tcp", remote,
                "PostgreSQL listens beyond localhost (postgresql_listen_addresses): the addresses of "
                "postgresql_hba_entries", "postgresql_hba_entries (beyond loopback)")
    for index, rule in enumerate(spec.get("extra") or []):
        opening(f"firewall_extra_rules[{index}] ({rule.get('name', '')})", rule["port"], rule.get("protocol", "tcp"),
                rule.get("sources") or [], rule.get("why") or "firewall_extra_rules",
                f"firewall_extra_rules[{index}].sources")
    return openings, problems


def firewall_openings(spec):
    return _openings(spec)[0]


def firewall_problems(spec):
    return _openings(spec)[1]


def address_admitted(address, sources):
    """Whether address lies in one of sources (addresses or networks)."""
    try:
        ip = ipaddress.ip_address(str(address).strip())
    except ValueError:
        return False
    for source in sources or []:
        try:
            net = _network(source)
        except ValueError:
            continue
        if ip.version == net.version and ip in net:
            return True
        if ip.version == 6 and ip.ipv4_mapped and net.version == 4 and ip.ipv4_mapped in net:
            return True
    return False


class FilterModule:
    def filters(self):
        return {"firewall_openings": firewall_openings, "firewall_problems": firewall_problems,
                "address_admitted": address_admitted}
