"""Helpers for the backups-layer tests: the database host and the backup store of the scenario."""

import json
import time

import pytest


# The PostgreSQL a user of this Debian release gets: 15 on Debian 12, 17 on Debian 13.
@pytest.fixture(scope="module")
def cluster(host):
    major = {"12": 15, "13": 17}[host.system_info.release.split(".")[0]]
    return {"major": major, "service": f"postgresql@{major}-main", "data_dir": f"/var/lib/postgresql/{major}/main",
            "conf_dir": f"/etc/postgresql/{major}/main"}


@pytest.fixture(scope="module")
def store(host):
    return host.get_host("ansible://store", ansible_inventory=host.backend.ansible_inventory)


@pytest.fixture(scope="module")
def psql(host):
    def run(sql, db="postgres"):
        return host.check_output("runuser -u postgres -- psql -X -At -d %s -c %s", db, sql)
    return run


@pytest.fixture(scope="module")
def config(host):
    return json.loads(host.file("/etc/bedrock/backups.json").content_string)


@pytest.fixture(scope="module")
def as_postgres(host):
    def run(command):
        return host.run("cd /tmp && runuser -u postgres -- sh -c %s", command)
    return run


def heartbeat(host):
    host.check_output("runuser -u postgres -- /usr/local/bin/bedrock-heartbeat")


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
