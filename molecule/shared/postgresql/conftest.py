"""Helpers for the PostgreSQL-layer tests: psql as postgres (peer) and as a login role (SCRAM over TCP)."""

import os

import pytest
import yaml

ROLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "roles")


# The PostgreSQL a user of this Debian release gets: 15 on Debian 12, 17 on Debian 13.
@pytest.fixture(scope="module")
def cluster(host):
    major = {"12": 15, "13": 17}[host.system_info.release.split(".")[0]]
    return {"major": major, "service": f"postgresql@{major}-main", "data_dir": f"/var/lib/postgresql/{major}/main",
            "conf_dir": f"/etc/postgresql/{major}/main"}


@pytest.fixture(scope="module")
def setting(host):
    hostvars = host.ansible.get_variables()
    defaults = {}
    for role in ("postgresql_common", "postgresql", "pgbadger"):
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
