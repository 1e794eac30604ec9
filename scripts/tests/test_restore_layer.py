"""playbooks/restore.yml on the same host, with WAL-E (Debian 12's default archiver; its file store on the host itself,
as development allows): the refusals (no confirmation, two moments, data without restore_keep_aside, a moment before
the oldest base backup) change neither /etc nor the data directory; then a table dropped after a restore point comes
back with its rows and nothing after the point, the old data directory kept aside, archiving going on into the same
store on a new timeline. A lost host rebuilt on another host (pgBackRest, Debian 13) is molecule/site-trixie's
disaster."""

import json
import re
import time

import pytest

from conftest import DB_HOST_VARS, fresh_target

NAME = "pytest-restore"
RUN = "cd /tmp && runuser -u postgres -- "
HOST_VARS = {**DB_HOST_VARS, "backups_archiver": "wal-e", "wale_archive_timeout_seconds": 10}


def failures(output):
    """The failed tasks' messages of a run (its recap alone does not say why)."""
    return "\n".join(re.findall(r"(?:fatal|failed): \[[^\]]+\]: FAILED! => .{0,1500}", output)) or output[-3000:]


def sql(host, statement, database="appdb"):
    return host.ssh_out(RUN + f"psql -X -At -d {database} -c {json.dumps(statement)}")


def restore(host, **extra):
    return host.play("restore.yml", extra, "--limit", NAME, vars_file="restore-vars.yml")


def untouched(host):
    """What a refused restore must leave as it was: /etc, the data directory where it was (its inode, nothing beside
    it) and the cluster running since the same moment."""
    return host.etc_checksums() + host.ssh_out(
        "ls /var/lib/postgresql/15/ && stat -c %i /var/lib/postgresql/15/main && "
        + RUN + "psql -X -At -c 'SELECT pg_postmaster_start_time()'")


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    for host in fresh_target(tmp_path_factory, NAME, ["db", "pgbouncer", "backup_store"], HOST_VARS):
        res, output = host.play("../site.yml")
        assert res.returncode == 0 and "failed=0" in output, failures(output)
        sql(host, "CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 250) g; "
                  "ALTER TABLE orders OWNER TO app")
        yield host


def refused(res, output, message):
    assert res.returncode != 0 and message in output, failures(output)


def test_refusals_change_neither_etc_nor_the_data_directory(target):
    before = untouched(target)
    refused(*restore(target), f'restore_confirm must equal the target\'s inventory name ("{NAME}"), got ""')
    refused(*restore(target, restore_confirm=NAME, restore_target_time="2026-12-01 00:00:00+00",
                     restore_target_name="x-20261201T000000Z"),
            "restore_target_time and restore_target_name name two moments; give one.")
    refused(*restore(target, restore_confirm=NAME, restore_keep_aside="maybe"),
            'restore_keep_aside and restore_old_primary_fenced must be true or false, got "maybe"')
    refused(*restore(target, restore_confirm=NAME),
            "its data directory is untouched; restoring to the end of the archive is refused: PostgreSQL on this host "
            "holds data (appdb: 1 tables, bedrock: 1 tables); restore_keep_aside=true moves")
    refused(*restore(target, restore_confirm=NAME, restore_keep_aside=True,
                     restore_target_time="2020-01-01 00:00:00+00"),
            'restoring to restore_target_time "2020-01-01 00:00:00+00" is refused: the target 2020-01-01T00:00:00+00:00 '
            'lies before the oldest base backup finished: the store holds base backups from')
    refused(*restore(target, restore_confirm=NAME, restore_keep_aside=True,
                     restore_target_name="before-deploy-20991231T000000Z"),
            "lies after the newest WAL in the store")
    assert untouched(target) == before


def test_a_dropped_table_comes_back_from_its_restore_point(target):
    point = json.loads(target.ssh_out(RUN + "/usr/local/bin/bedrock-restore-point before-drop --json"))
    sql(target, "INSERT INTO orders VALUES (251)")
    sql(target, "DROP TABLE orders")
    sql(target, "SELECT pg_switch_wal()", "postgres")
    time.sleep(2)
    res, output = restore(target, restore_confirm=NAME, restore_keep_aside=True, restore_target_name=point["name"])
    assert res.returncode == 0 and "failed=0" in output, failures(output)
    assert f"to the restore point {point['name']}" in output, output[-3000:]
    assert sql(target, "SELECT count(*), max(id) FROM orders") == "250|250"
    kept = target.ssh_out("ls -d /var/lib/postgresql/15/main.kept-*").split()
    assert len(kept) == 1, kept
    report = json.loads(target.ssh_out("cat /var/lib/bedrock-backups/restore/restore-*.json"))
    assert report["archiver"] == "wal-e" and report["target"]["name"] == point["name"] and report["timeline"] >= 2
    # The application's login through PgBouncer, with the inventory's password.
    login = target.ssh("PGPASSWORD=app-test-password psql -X -At -h 127.0.0.1 -p 6432 -U app -d appdb "
                       "-c 'SELECT count(*) FROM orders'", check=False)
    assert login.returncode == 0 and login.stdout.strip() == "250", login.stderr
    # Archiving goes on into the same store on the new timeline, beside the old one's segments (bedrock-restore-point
    # returns once the archive holds the segment of the point).
    timeline = f"{report['timeline']:08X}"
    sql(target, "INSERT INTO orders VALUES (252)")
    segment = json.loads(target.ssh_out(RUN + "/usr/local/bin/bedrock-restore-point after-restore --json"))["wal_file"]
    assert segment.startswith(timeline), segment
    stored = target.ssh_out("ls /var/lib/bedrock-wal-e/wal_005/").split()
    assert any(name.startswith(segment) for name in stored), (segment, stored[-5:])
    assert any(name.startswith("00000001") for name in stored) and f"{timeline}.history.lzo" in stored, stored[-8:]
    res, output = target.play("../site.yml")
    assert res.returncode == 0 and "changed=0" in output, failures(output)
