"""After molecule/site-trixie's disaster (lose-the-database-host.yml): the database host was destroyed while written
to once a second, created again empty, and rebuilt by restore.yml. Every row the archive held is back, the rows lost
fit the RPO bound, the application logs in through PgBouncer with the vault's password, archiving goes on into the
same repository on a new timeline with a fresh full backup, and the drill passes on the new host."""

import json
import os

import pytest


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def disaster():
    with open(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "disaster.json")) as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def db(host, hostvars):
    if "db" not in hostvars.get("group_names", []):
        pytest.skip("database host only")
    return host


def psql(host, sql, db="app"):
    return host.check_output("cd /tmp && runuser -u postgres -- psql -X -At -d %s -c %s", db, sql)


@pytest.fixture(scope="module")
def report(db):
    return json.loads(db.check_output("cat /var/lib/bedrock-backups/restore/restore-*.json"))


def test_every_row_the_archive_held_is_back_and_the_loss_fits_the_rpo(db, disaster, report):
    restored = int(psql(db, "SELECT max(id) FROM ticks"))
    archive_timeout = int(psql(db, "SELECT setting FROM pg_settings WHERE name = 'archive_timeout'", "postgres"))
    assert restored >= disaster["rows_before_point"], (restored, disaster)
    # The writer ran on after the count until the host was gone; the archive holds all but the last
    # archive_timeout at most (one row a second), plus the seconds between the count and the loss.
    lost = disaster["rows_written"] - restored
    print(f"\nrows written {disaster['rows_written']}, restored {restored}, lost at most {max(lost, 0)} of the "
          f"last {archive_timeout} s; RTO {report['rto_seconds']} s (fetch "
          f"{report['fetch_seconds']} s, replay {report['replay_seconds']} s, promotion {report['promotion_seconds']} s)")
    assert lost <= archive_timeout + 15, (disaster, restored)
    assert psql(db, "SELECT count(*) = max(id) FROM ticks") == "t", "a row inside the restored range is missing"


def test_the_report_says_what_was_restored(report):
    assert report["ok"] and report["archiver"] == "pgbackrest" and report["timeline"] >= 2, report
    assert report["target"] == {"time": None, "name": None}
    assert report["newest_transaction"] and report["window_lost_seconds"] >= 0, report
    assert report["rto_seconds"] >= report["fetch_seconds"] + report["replay_seconds"], report


def test_the_application_logs_in_through_pgbouncer_with_the_vault_secret(db, hostvars):
    out = db.check_output("PGPASSWORD=%s psql -X -At -h 127.0.0.1 -p 6432 -U app -d app -c 'SELECT count(*) FROM ticks'",
                          hostvars["vault_postgresql_app_password"])
    assert int(out) > 0
    wrong = db.run("PGPASSWORD=wrong psql -X -At -h 127.0.0.1 -p 6432 -U app -d app -c 'SELECT 1'")
    assert wrong.rc != 0


def test_archiving_goes_on_into_the_same_repository_on_the_new_timeline(db, report):
    timeline = f"{report['timeline']:08X}"
    psql(db, "INSERT INTO ticks (at) VALUES (clock_timestamp())")
    # bedrock-restore-point returns once the archive holds the segment of the point.
    segment = json.loads(db.check_output("cd /tmp && runuser -u postgres -- /usr/local/bin/bedrock-restore-point "
                                         "after-restore --json"))["wal_file"]
    assert segment.startswith(timeline)
    info = json.loads(db.check_output("cd /tmp && runuser -u postgres -- pgbackrest --stanza=main info --output=json"))[0]
    assert info["status"]["code"] == 0, info["status"]
    assert info["archive"][-1]["max"] >= segment, info["archive"]
    # The new timeline's history file reached the store (held as .ready until archiving was released).
    listing = json.loads(db.check_output("cd /tmp && runuser -u postgres -- pgbackrest --stanza=main repo-ls "
                                         "--output=json archive/main/%s", info["archive"][-1]["id"]))
    assert any(name.startswith(f"{timeline}.history") for name in listing), sorted(listing)
    newest = info["backup"][-1]
    assert newest["type"] == "full" and newest["archive"]["start"].startswith(timeline), newest


def test_the_drill_passes_on_the_new_host(db):
    drill = db.run("cd /tmp && runuser -u postgres -- /usr/local/bin/bedrock-restore-drill --json")
    assert drill.rc == 0, drill.stdout[-2000:] + drill.stderr[-1000:]
    report = json.loads(drill.stdout)
    assert report["pitr"]["archiver"] == "pgbackrest" and report["result"] == "pass", report
