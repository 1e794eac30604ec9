"""The backups layer live where WAL-E archives: dumps pushed and verified off-host, the restricted key, flock, WAL-E
on PostgreSQL 15, the restore drill's RPO/RTO, and the fault drills (server stopped mid-dump, disk full, WAL store
unreachable)."""

import json
import re
import time

import pytest
from conftest import background, heartbeat, outage_then_catch_up, wait_for

testinfra_hosts = ["ansible://db"]

# The pg_dump tests and WAL-E's run where WAL-E archives (the backups scenario); the archiver does not change the
# dumps. pgBackRest's own tests: test_pgbackrest.py; the RPO at the worst moments, for both: test_archive_rpo.py.
pytestmark = pytest.mark.usefixtures("wale_archives")

KEY = "/var/lib/postgresql/.ssh/bedrock-backup"
WALE = "envdir /etc/wal-e.d/env /usr/local/bin/bedrock-wal-e"


def dumps(host, directory="/var/backups/postgresql"):
    return sorted(host.check_output("ls -1 %s", directory).split())


def newest(host, database):
    return [f for f in dumps(host) if re.fullmatch(rf"{database}-\d{{8}}T\d{{6}}Z\.dump", f)][-1]


def test_files_are_private_to_postgres(host):
    file_store = not host.file("/etc/wal-e.d/env/WALE_S3_PREFIX").exists
    for path in ["/var/backups/postgresql", "/etc/wal-e.d", "/etc/wal-e.d/env"] + ["/var/lib/bedrock-wal-e"] * file_store:
        d = host.file(path)
        assert d.is_directory and d.user == "postgres" and d.mode == 0o700, path
    for name in host.check_output("ls /etc/wal-e.d/env").split():
        f = host.file(f"/etc/wal-e.d/env/{name}")
        assert f.user == "postgres" and f.mode == 0o600, name
    cfg = host.file("/etc/bedrock/backups.json")
    assert cfg.user == "root" and cfg.group == "postgres" and cfg.mode == 0o640


def test_wale_is_the_pinned_release_in_its_venv(host):
    frozen = host.check_output("/opt/wal-e/bin/pip freeze")
    assert "wal-e==1.1.1" in frozen and "boto==2.49.0" in frozen
    assert host.run("/usr/local/bin/bedrock-wal-e --help").rc == 0


def test_postgresql_archives_through_wale_to_its_own_log(psql):
    assert psql("SHOW archive_mode") == "on"
    assert psql("SHOW archive_timeout") == "15s"
    command = psql("SHOW archive_command")
    assert command.startswith("envdir /etc/wal-e.d/env /usr/local/bin/bedrock-wal-e wal-push %p")
    assert ">>/var/log/wal-e/wal-e.log 2>&1" in command
    # Archiving works: force a segment switch and see it reach the store.
    before = int(psql("SELECT archived_count FROM pg_stat_archiver"))
    psql("SELECT pg_switch_wal() FROM (SELECT txid_current()) t")
    wait_for(lambda: int(psql("SELECT archived_count FROM pg_stat_archiver")) > before, 60, "a WAL segment archived")


def test_dump_is_atomic_checksummed_counted_and_verified_on_the_store(host, store, psql, as_postgres):
    psql("CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, note text)", db="appdb")
    psql("INSERT INTO orders (note) SELECT md5(g::text) FROM generate_series(1, 2500) g", db="appdb")
    res = as_postgres("/usr/local/bin/bedrock-pg-dump")
    assert res.rc == 0, res.stderr
    name = newest(host, "appdb")
    f = host.file(f"/var/backups/postgresql/{name}")
    assert f.user == "postgres" and f.mode == 0o600
    assert not [n for n in dumps(host) if n.endswith(".partial")]
    assert host.run("cd /var/backups/postgresql && sha256sum --check --strict %s.sha256", name).rc == 0
    meta = json.loads(host.file(f"/var/backups/postgresql/{name}.json").content_string)
    assert meta["row_counts"]["public.orders"] == int(psql("SELECT count(*) FROM orders", db="appdb"))
    # Off-host, checked on the store itself.
    assert store.run("cd /srv/bedrock-backups/db && sha256sum --check --strict %s.sha256", name).rc == 0
    assert store.file(f"/srv/bedrock-backups/db/{name}").mode == 0o600
    check = as_postgres("/usr/local/bin/bedrock-pg-dump --check")
    assert check.rc == 0 and check.stdout.startswith("OK - last successful backup"), check.stdout


def test_status_check_warns_on_an_old_backup(as_postgres):
    check = as_postgres("/usr/local/bin/bedrock-pg-dump --check --warn-hours 0 --crit-hours 1")
    assert check.rc == 1 and check.stdout.startswith("WARNING"), check.stdout


def test_the_push_key_can_only_add_backups(host, store, as_postgres):
    ssh = (f"ssh -i {KEY} -o BatchMode=yes -o UserKnownHostsFile=/etc/bedrock/backup-store.known_hosts "
           "-o StrictHostKeyChecking=yes")
    address = json.loads(host.file("/etc/bedrock/backups.json").content_string)["store"]["address"]
    shell = as_postgres(f"{ssh} bedrock-backup@{address} id")
    assert shell.rc != 0 and "refused command" in shell.stderr
    name = newest(host, "appdb")
    pull = as_postgres(f"rsync -e '{ssh}' bedrock-backup@{address}:{name} /tmp/pulled.dump")
    assert pull.rc != 0 and not host.file("/tmp/pulled.dump").exists
    escape = as_postgres(f"{ssh} bedrock-backup@{address} 'verify ../../../etc/shadow.dump.sha256'")
    assert escape.rc != 0


def test_a_second_run_exits_at_once_through_flock(host, as_postgres):
    background(host, "flock /run/lock/bedrock-pg-dump.lock sleep 8")
    time.sleep(1)
    started = time.time()
    res = as_postgres("/usr/local/bin/bedrock-pg-dump")
    assert res.rc == 75 and "another run holds /run/lock/bedrock-pg-dump.lock" in res.stderr
    assert time.time() - started < 5
    time.sleep(8)


def test_postgresql_stopped_during_a_dump_fails_cleanly(host, psql, as_postgres, cluster):
    before = dumps(host)
    # A session holding an exclusive lock makes the dump run wait inside its snapshot; then the server goes away.
    background(host, "psql -X -d appdb -c 'BEGIN; LOCK orders IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30)'")
    time.sleep(1)
    background(host, "/usr/local/bin/bedrock-pg-dump >/tmp/dump.out 2>&1; echo $? >/tmp/dump.rc")
    try:
        wait_for(lambda: psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bedrock-pg-dump' "
                              "AND wait_event_type = 'Lock'") == "1", 20, "the dump run to wait on the lock")
        host.check_output("systemctl stop %s", cluster["service"])
        wait_for(lambda: host.file("/tmp/dump.rc").exists, 60, "the dump run to end")
    finally:
        host.check_output("systemctl start %s", cluster["service"])
    assert host.file("/tmp/dump.rc").content_string.strip() == "1"
    assert "FAILED appdb" in host.file("/tmp/dump.out").content_string
    after = dumps(host)
    assert [n for n in after if n not in before and n.startswith("appdb")] == []
    assert not [n for n in after if n.endswith(".partial")]
    assert host.run("cd /var/backups/postgresql && sha256sum --check --strict *.sha256").rc == 0
    host.run("rm -f /tmp/dump.rc /tmp/dump.out")


def test_a_full_backup_disk_removes_the_partial_file(host, psql, config, as_postgres):
    psql("CREATE TABLE IF NOT EXISTS bulk AS SELECT g, md5(g::text) || md5((g * 7)::text) AS s "
         "FROM generate_series(1, 200000) g", db="shop")
    host.check_output("mkdir -p /mnt/tiny && mount -t tmpfs -o size=1M,mode=0700,uid=postgres tiny /mnt/tiny")
    try:
        host.check_output("runuser -u postgres -- sh -c %s", "echo earlier >/mnt/tiny/shop-20000101T000000Z.dump")
        tiny = dict(config, directory="/mnt/tiny", store=None, databases=["shop"],
                    status_file="/tmp/tiny-status.json")
        host.check_output("printf '%%s' %s > /tmp/tiny.json && chmod 644 /tmp/tiny.json", json.dumps(tiny))
        res = as_postgres("/usr/local/bin/bedrock-pg-dump --config /tmp/tiny.json")
        assert res.rc == 1 and "FAILED shop" in res.stderr
        assert host.check_output("ls -A /mnt/tiny").split() == ["shop-20000101T000000Z.dump"]
        assert host.file("/mnt/tiny/shop-20000101T000000Z.dump").content_string == "earlier\n"
    finally:
        host.run("umount /mnt/tiny; rm -f /tmp/tiny.json /tmp/tiny-status.json")


def test_base_backup_on_postgresql_and_the_drill_passes(host, psql, as_postgres):
    res = as_postgres("flock -n /run/lock/bedrock-wal-e-backup.lock /usr/local/bin/bedrock-wal-e-backup")
    assert res.rc == 0, host.check_output("tail -20 /var/log/wal-e/wal-e.log")
    listing = as_postgres(f"{WALE} backup-list LATEST")
    assert listing.rc == 0 and "base_" in listing.stdout
    heartbeat(host)
    psql("SELECT pg_switch_wal() FROM (SELECT txid_current()) t")
    drill = as_postgres("/usr/local/bin/bedrock-restore-drill --json")
    report = json.loads(drill.stdout)
    assert drill.rc == 0, report["breaches"]
    assert report["result"] == "pass" and all(d["ok"] and not d["row_count_mismatches"] for d in report["dumps"])
    assert report["pitr"]["ok"] and report["pitr"]["rpo_seconds"] <= 120 and report["pitr"]["rto_seconds"] > 0
    # Scratch targets are gone and the primary is as it was.
    assert host.check_output("ls -A /var/lib/postgresql/bedrock-drill") == ""
    assert psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'bedrock_drill_%'") == "0"
    assert psql("SELECT pg_is_in_recovery()") == "f"


def test_wal_store_unreachable_then_back_loses_nothing(host, psql, as_postgres, cluster):
    s3 = host.file("/etc/wal-e.d/env/WALE_S3_PREFIX").exists
    store_ip = host.file("/etc/wal-e.d/env/WALE_S3_ENDPOINT").content_string.split("//")[1].split(":")[0] if s3 else ""
    # S3: the store host becomes unreachable from the database host (a blackhole route in the container's own
    # network namespace); file store: the folder refuses postgres.
    cut = f"ip route add blackhole {store_ip}/32" if s3 else "chmod 000 /var/lib/bedrock-wal-e"
    mend = f"ip route del blackhole {store_ip}/32" if s3 else "chmod 700 /var/lib/bedrock-wal-e"
    outage_then_catch_up(host, psql, as_postgres, cluster, cut, mend)


def test_restore_drill_playbook_artifacts_exist(host):
    latest = host.file("/var/lib/bedrock-backups/drill/latest.json")
    assert latest.exists and latest.user == "postgres" and latest.mode & 0o077 == 0
    assert json.loads(latest.content_string)["host"] == host.check_output("hostname")
