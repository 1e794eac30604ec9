"""pgBackRest as the archiver, live (the backups-pgbackrest scenario), its repository on the backup store (the
repository host, over SSH both ways): the configuration private, the passphrase only on the store, the repository
encrypted, each side's key forced into pgbackrest, archiving through archive-push, full and incremental backups run
on the store, verify, a second backup refused while one runs, the store unreachable then back, and the restore
drill's point-in-time restore from it."""

import json
import time

import pytest
from conftest import heartbeat, outage_then_catch_up, wait_for

testinfra_hosts = ["ansible://db"]
pytestmark = pytest.mark.usefixtures("pgbackrest_archives")

PGBACKREST = "pgbackrest --stanza=main"
REPO = "/var/lib/pgbackrest"
STORE_USER = "bedrock-pgbackrest"


def on_store(store, command):
    """A pgbackrest command where the backups run: on the store, as its account."""
    return store.run("cd /tmp && runuser -u %s -- sh -c %s", STORE_USER, command)


def info(as_postgres):
    res = as_postgres(f"{PGBACKREST} info --output=json")
    assert res.rc == 0, res.stderr
    return json.loads(res.stdout)[0]


def test_the_configuration_is_private_and_the_repository_encrypted_on_the_store(host, store, as_postgres):
    conf = host.file("/etc/pgbackrest/pgbackrest.conf")
    assert conf.user == "root" and conf.group == "postgres" and conf.mode == 0o640
    # The database host knows where the repository is, not how to decrypt it.
    assert "repo1-host=" in conf.content_string and "cipher" not in conf.content_string
    stanza = store.file("/etc/pgbackrest/conf.d/main.conf")
    assert stanza.user == "root" and stanza.group == STORE_USER and stanza.mode == 0o640
    assert "repo1-cipher-pass=" in stanza.content_string
    repo = store.file(REPO)
    assert repo.user == STORE_USER and repo.mode & 0o007 == 0
    assert not host.file(REPO + "/backup").exists
    assert info(as_postgres)["cipher"] == "aes-256-cbc"
    # Encrypted at rest: the stanza's own metadata file is not readable text.
    raw = store.check_output(f"head -c 200 {REPO}/backup/main/backup.info | tr -dc '[:print:]'")
    assert "backup-current" not in raw and "db-system-id" not in raw
    assert "pgbackrest --stanza=main backup --type=full" in store.file("/etc/cron.d/bedrock-pgbackrest-main").content_string


def test_each_key_runs_pgbackrest_only(host, store):
    """The store's account may run pgbackrest on the database host and nothing else, and the reverse."""
    forced = 'restrict,command="/usr/bin/pgbackrest ${SSH_ORIGINAL_COMMAND#* }"'
    assert host.file("/var/lib/postgresql/.ssh/authorized_keys").content_string.count(forced) == 1
    assert store.file(f"/var/lib/{STORE_USER}/.ssh/authorized_keys").content_string.count(forced) == 1
    db = host.check_output("hostname -I").split()[0]
    shell = store.run(f"runuser -u {STORE_USER} -- ssh -o BatchMode=yes postgres@{db} id")
    assert "uid=" not in shell.stdout
    version = store.run(f"runuser -u {STORE_USER} -- ssh -o BatchMode=yes postgres@{db} pgbackrest version")
    assert version.rc == 0 and version.stdout.startswith("pgBackRest"), version.stderr


def test_postgresql_archives_through_pgbackrest(psql):
    assert psql("SHOW archive_mode") == "on"
    assert psql("SHOW archive_timeout") == "15s"
    assert psql("SHOW archive_command") == "/usr/bin/pgbackrest --stanza=main archive-push %p"
    before = int(psql("SELECT archived_count FROM pg_stat_archiver"))
    psql("SELECT pg_switch_wal() FROM (SELECT txid_current()) t")
    wait_for(lambda: int(psql("SELECT archived_count FROM pg_stat_archiver")) > before, 60, "a WAL segment archived")
    # No failure since the last success (failed_count counts the unreachable-repository drill of an earlier pass).
    assert psql("SELECT last_failed_time IS NULL OR last_failed_time < last_archived_time FROM pg_stat_archiver") == "t"


def test_the_converge_took_a_full_backup_and_the_health_check_passes(host, store, as_postgres):
    assert any(b["type"] == "full" for b in info(as_postgres)["backup"])
    res = as_postgres("/usr/local/bin/bedrock-pgbackrest-check")
    assert res.rc == 0 and res.stdout.startswith("OK - archiving checked"), res.stdout + res.stderr
    cron = host.file("/etc/cron.d/bedrock-pgbackrest").content_string
    assert "bedrock-pgbackrest-check --stanza=main --max-age-hours 26 --quiet\n" in cron
    assert "backup --type" not in cron and "--verify" not in cron
    # verify runs where the repository is: on the store, weekly, as its account.
    store_cron = store.file("/etc/cron.d/bedrock-pgbackrest-main").content_string
    assert f"{STORE_USER} /usr/bin/pgbackrest --stanza=main verify" in store_cron
    verify = on_store(store, f"{PGBACKREST} verify")
    assert verify.rc == 0, verify.stdout + verify.stderr
    # Quiet when OK, so cron mails only a problem; CRITICAL (2) once the newest backup is past twice the allowed age.
    assert as_postgres("/usr/local/bin/bedrock-pgbackrest-check --quiet").stdout == ""
    old = as_postgres("/usr/local/bin/bedrock-pgbackrest-check --max-age-hours 0.0001")
    assert old.rc == 2 and old.stdout.startswith("CRITICAL"), old.stdout


def test_an_incremental_backup_on_the_store_then_verify_is_clean(psql, store, as_postgres):
    psql("CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, note text)", db="appdb")
    psql("INSERT INTO orders (note) SELECT md5(g::text) FROM generate_series(1, 2500) g", db="appdb")
    res = on_store(store, f"{PGBACKREST} backup --type=incr")
    assert res.rc == 0, res.stderr
    newest = info(as_postgres)["backup"][-1]
    assert newest["type"] == "incr" and newest["reference"]
    verify = on_store(store, f"{PGBACKREST} verify")
    assert verify.rc == 0, verify.stdout + verify.stderr


def test_a_second_backup_is_refused_while_one_runs(host, store, psql):
    # Enough data that a full backup runs for seconds (pgbench scale 3, about 45 MB); dropped afterwards, so the
    # drills that follow restore a small cluster.
    psql("DROP DATABASE IF EXISTS bench")
    psql("CREATE DATABASE bench")
    host.check_output("cd /tmp && runuser -u postgres -- pgbench -q -i -s 3 bench")
    store.check_output("rm -f /tmp/first-backup.rc /tmp/first-backup.out")
    store.check_output("setsid -f runuser -u %s -- sh -c %s </dev/null >/dev/null 2>&1", STORE_USER,
                       f"{PGBACKREST} backup --type=full >/tmp/first-backup.out 2>&1; echo $? >/tmp/first-backup.rc")
    try:
        wait_for(lambda: store.run(f"pgrep -u {STORE_USER} -f 'pgbackrest.*backup --type=full'").rc == 0, 30,
                 "the first backup to start")
        time.sleep(1)
        second = on_store(store, f"{PGBACKREST} backup --type=diff")
        assert second.rc != 0 and "unable to acquire lock" in second.stdout + second.stderr, second.stderr
    finally:
        wait_for(lambda: store.file("/tmp/first-backup.rc").exists, 600, "the first backup to finish")
        psql("DROP DATABASE bench")
    assert store.file("/tmp/first-backup.rc").content_string.strip() == "0", store.file("/tmp/first-backup.out").content_string
    store.check_output("rm -f /tmp/first-backup.rc /tmp/first-backup.out")


def test_the_store_unreachable_then_back_loses_nothing(host, store, psql, as_postgres, cluster):
    # The store becomes unreachable from the database host (a blackhole route in the container's own network
    # namespace); meanwhile the health check says so.
    store_ip = store.check_output("hostname -I").split()[0]

    def check_is_critical():
        check = as_postgres("/usr/local/bin/bedrock-pgbackrest-check --quiet")
        assert check.rc == 2 and check.stdout.startswith("CRITICAL - pgbackrest check failed"), check.stdout

    pitr = outage_then_catch_up(host, psql, as_postgres, cluster, f"ip route add blackhole {store_ip}/32",
                                f"ip route del blackhole {store_ip}/32", during=check_is_critical)
    assert pitr["archiver"] == "pgbackrest"


def test_the_drill_passes_from_pgbackrest(host, psql, as_postgres):
    assert as_postgres("/usr/local/bin/bedrock-pg-dump").rc == 0
    heartbeat(host)
    psql("SELECT pg_switch_wal() FROM (SELECT txid_current()) t")
    drill = as_postgres("/usr/local/bin/bedrock-restore-drill --json")
    report = json.loads(drill.stdout)
    assert drill.rc == 0, report["breaches"]
    assert report["result"] == "pass" and report["pitr"]["rpo_seconds"] <= 120
    assert host.check_output("ls -A /var/lib/postgresql/bedrock-drill") == ""
    assert psql("SELECT pg_is_in_recovery()") == "f"
