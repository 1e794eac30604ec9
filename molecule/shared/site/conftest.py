"""Helpers for the site tests."""

import pytest


# The PostgreSQL a user of this Debian release gets: 15 on Debian 12, 17 on Debian 13.
@pytest.fixture(scope="module")
def cluster(host):
    major = {"12": 15, "13": 17}[host.system_info.release.split(".")[0]]
    return {"major": major, "service": f"postgresql@{major}-main", "data_dir": f"/var/lib/postgresql/{major}/main",
            "conf_dir": f"/etc/postgresql/{major}/main"}
