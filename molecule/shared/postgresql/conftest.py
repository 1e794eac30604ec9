"""Helpers for the PostgreSQL-layer tests: psql as postgres (peer) and as a login role (SCRAM over TCP)."""

import os

import pytest
import yaml

ROLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "roles")


@pytest.fixture(scope="module")
def setting(host):
    hostvars = host.ansible.get_variables()
    defaults = {}
    for role in ("postgresql", "pgbadger"):
        with open(os.path.join(ROLES, role, "defaults", "main.yml")) as fh:
            defaults.update(yaml.safe_load(fh))

    def lookup(name):
        return hostvars.get(name, defaults[name])
    return lookup


@pytest.fixture(scope="module")
def psql(host):
    def run(sql, db="postgres"):
        return host.check_output("runuser -u postgres -- psql -X -At -d %s -c %s", db, sql)
    return run
