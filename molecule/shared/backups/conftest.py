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


@pytest.fixture(scope="module")
def archiver(config):
    """What archives WAL on this host (backups_archiver): the restore drill's setting."""
    return config["drill"]["archiver"]


@pytest.fixture
def wale_archives(archiver):
    if archiver != "wal-e":
        pytest.skip("WAL-E and the dumps are tested where WAL-E archives (the backups scenario)")


@pytest.fixture
def pgbackrest_archives(archiver):
    if archiver != "pgbackrest":
        pytest.skip("pgBackRest is tested where it archives (the backups-pgbackrest scenario)")


def background(host, command):
    """Runs a shell command as postgres in its own session: the command runner kills what stays in its own."""
    host.check_output("setsid -f runuser -u postgres -- sh -c %s </dev/null >/dev/null 2>&1", command)


def ensure_a_base_backup(host, as_postgres, archiver):
    """A base backup to restore from (the scenario's moto store is empty again after its reboot). pgBackRest's
    backups run where its repository is: on the store (the repository host) when the configuration names one."""
    if archiver == "pgbackrest":
        if not json.loads(as_postgres("pgbackrest --stanza=main info --output=json").stdout)[0].get("backup"):
            command = "pgbackrest --stanza=main backup --type=full"
            if "repo1-host=" in host.file("/etc/pgbackrest/pgbackrest.conf").content_string:
                store = host.get_host("ansible://store", ansible_inventory=host.backend.ansible_inventory)
                res = store.run("cd /tmp && runuser -u bedrock-pgbackrest -- sh -c %s", command)
            else:
                res = as_postgres(command)
            assert res.rc == 0, res.stderr
    elif "base_" not in as_postgres("envdir /etc/wal-e.d/env /usr/local/bin/bedrock-wal-e backup-list LATEST").stdout:
        res = as_postgres("flock -n /run/lock/bedrock-wal-e-backup.lock /usr/local/bin/bedrock-wal-e-backup")
        assert res.rc == 0, res.stderr


def outage_then_catch_up(host, psql, as_postgres, cluster, cut, mend, during=None):
    """The archive store cut off (cut; mend undoes it): archiving fails and PostgreSQL keeps the segment (during()
    then checks what else must hold); once mended the archive catches up, and the drill restores a heartbeat
    written during the outage. Returns the drill's point-in-time entry."""
    failed_before = int(psql("SELECT failed_count FROM pg_stat_archiver"))
    ready = f"ls {cluster['data_dir']}/pg_wal/archive_status/ | grep -q ready"
    host.check_output(cut)
    try:
        heartbeat(host)
        outage_beat = float(psql("SELECT extract(epoch FROM beat) FROM heartbeat", db="bedrock"))
        psql("SELECT pg_switch_wal() FROM (SELECT txid_current()) t")
        wait_for(lambda: int(psql("SELECT failed_count FROM pg_stat_archiver")) > failed_before, 180,
                 "archiving to fail")
        assert host.run(ready).rc == 0, "PostgreSQL did not keep the segment while the store was away"
        if during:
            during()
    finally:
        host.check_output(mend)
    wait_for(lambda: host.run(ready).rc != 0, 180, "the archive to catch up")
    report = json.loads(as_postgres("/usr/local/bin/bedrock-restore-drill --json --skip-dump").stdout)
    assert report["pitr"]["ok"], report["breaches"]
    assert report["pitr"]["newest_heartbeat_restored_epoch"] >= outage_beat
    return report["pitr"]
