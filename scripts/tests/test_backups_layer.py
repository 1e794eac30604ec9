"""The backups layer against one container (database host and its own backup store): check mode on a fresh
host, a converged host that check mode finds unchanged, WAL-E's file store (base backup and point-in-time
restore), the directory dump format, and the switch of archiver on the running host, WAL-E to pgBackRest and back.
Its bad inputs are in test_site_bad_input.py."""

import base64
import json

import pytest

from conftest import DB_HOST_VARS, fresh_target

NAME = "pytest-backups"



@pytest.fixture(scope="module")
def target(tmp_path_factory):
    yield from fresh_target(tmp_path_factory, NAME, ["db", "backup_store"], DB_HOST_VARS)


def test_check_mode_on_a_fresh_host_does_not_fail_or_change_it(target):
    before = target.etc_checksums()
    res, output = target.play("backups.yml", None, "--check", "--diff")
    assert res.returncode == 0 and "failed=0" in output, res.stdout[-3000:]
    assert target.etc_checksums() == before


def test_check_mode_on_the_converged_host_changes_nothing(target):
    for playbook in ("postgresql.yml", "backups.yml"):
        res, _ = target.play(playbook)
        assert res.returncode == 0, res.stdout[-3000:]
    res, output = target.play("backups.yml", None, "--check", "--diff")
    assert res.returncode == 0 and "changed=0" in output and "failed=0" in output, res.stdout[-3000:]
    dump = target.ssh("cd /tmp && runuser -u postgres -- /usr/local/bin/bedrock-pg-dump", check=False)
    assert dump.returncode == 0, dump.stderr


def test_wale_file_store_base_backup_and_point_in_time_restore(target):
    """The file store (the backups scenario tests S3): a base backup on PostgreSQL 15, then the drill's PITR."""
    run = "cd /tmp && runuser -u postgres -- "
    res = target.ssh(run + "flock -n /run/lock/bedrock-wal-e-backup.lock /usr/local/bin/bedrock-wal-e-backup",
                     check=False)
    assert res.returncode == 0, target.ssh_out("tail -20 /var/log/wal-e/wal-e.log")
    assert target.ssh("ls /var/lib/bedrock-wal-e/basebackups_005/*_backup_stop_sentinel.json", check=False).returncode == 0
    # The role makes the heartbeat table only with its database; the heartbeat makes it again if it is gone.
    target.ssh(run + "psql -X -q -d bedrock -c 'DROP TABLE heartbeat'")
    target.ssh(run + "/usr/local/bin/bedrock-heartbeat")
    assert target.ssh_out(run + "psql -X -At -d bedrock -c 'SELECT count(*) FROM heartbeat'") == "1"
    target.ssh(run + "psql -X -q -c 'SELECT pg_switch_wal()'")
    drill = target.ssh(run + "/usr/local/bin/bedrock-restore-drill --skip-dump", check=False)
    assert drill.returncode == 0 and "PASS" in drill.stdout, drill.stdout + drill.stderr[-2000:]


def test_directory_format_dumps_in_parallel_and_restores(target):
    """backups_format directory (pg_dump -Fd -j N): checksummed file by file, restored with pg_restore -j."""
    config = json.loads(target.ssh_out("cat /etc/bedrock/backups.json"))
    config.update(format="directory", jobs=2, store=None, directory="/var/tmp/fd-dumps",
                  status_file="/var/tmp/fd-status.json")
    encoded = base64.b64encode(json.dumps(config).encode()).decode()
    target.ssh(f"install -d -o postgres -m 0700 /var/tmp/fd-dumps && echo {encoded} | base64 -d > /var/tmp/fd.json "
               "&& chmod 644 /var/tmp/fd.json")
    run = "cd /tmp && runuser -u postgres -- "
    dump = target.ssh(run + "/usr/local/bin/bedrock-pg-dump --config /var/tmp/fd.json", check=False)
    assert dump.returncode == 0, dump.stderr
    name = target.ssh_out("ls /var/tmp/fd-dumps | grep -E '^appdb-[0-9TZ]+\\.dump$'")
    assert target.ssh_out(f"test -d /var/tmp/fd-dumps/{name} && ls /var/tmp/fd-dumps/{name}").count("toc.dat") == 1
    assert target.ssh(f"cd /var/tmp/fd-dumps && sha256sum --check --strict {name}.sha256", check=False).returncode == 0
    drill = target.ssh(run + "/usr/local/bin/bedrock-restore-drill --skip-pitr --config /var/tmp/fd.json", check=False)
    assert drill.returncode == 0 and "PASS" in drill.stdout, drill.stdout + drill.stderr[-2000:]
    target.ssh("rm -rf /var/tmp/fd-dumps /var/tmp/fd.json /var/tmp/fd-status.json")


# This host is also its own backup store: pgBackRest's repository is a folder here (no other repository host).
PGBACKREST = {"backups_archiver": "pgbackrest", "pgbackrest_cipher_pass": "test-only-repository-passphrase",
              "pgbackrest_repo_on_database_disk": True}
RUN = "cd /tmp && runuser -u postgres -- "


def wale_segments(target):
    """The WAL segments in WAL-E's file store (names without the compression suffix)."""
    return sorted(n.split(".")[0] for n in target.ssh_out("ls /var/lib/bedrock-wal-e/wal_005").split()
                  if len(n.split(".")[0]) == 24)


def pgbackrest_segments(target):
    out = target.ssh_out("find /var/lib/pgbackrest/archive/main -type f -name '0*' -printf '%f\\n'")
    return sorted(n[:24] for n in out.split())


def next_segment(name):
    timeline, log, seg = int(name[:8], 16), int(name[8:16], 16), int(name[16:], 16)
    return f"{timeline:08X}{log:08X}{seg + 1:08X}" if seg < 0xFF else f"{timeline:08X}{log + 1:08X}{0:08X}"


def write_and_archive(target, n=3):
    for _ in range(n):
        target.ssh(RUN + "psql -X -q -d bedrock -c 'INSERT INTO heartbeat VALUES (1, now()) ON CONFLICT (id) DO UPDATE "
                   "SET beat = excluded.beat' -c 'SELECT pg_switch_wal()'")


def test_switching_archiver_on_the_running_host_leaves_no_gap(target):
    """WAL-E -> pgBackRest -> WAL-E on the converged host: each switch says what it will do, moves archive_command in
    one reload (no restart), takes the new archiver's full backup in the same run and only then drops the old one's
    schedule; the old archive is left as it was; the segments continue across the switch without a gap; the drill
    restores from the new archiver at once; the next run changes nothing."""
    started = target.ssh_out(RUN + "psql -XAt -c 'SELECT pg_postmaster_start_time()'")
    write_and_archive(target)
    wale_before = wale_segments(target)
    res, output = target.play("backups.yml", PGBACKREST)
    assert res.returncode == 0, output[-3000:]
    assert "This run moves archiving to pgbackrest in one reload" in output
    assert target.ssh("test -e /etc/postgresql/15/main/conf.d/70-bedrock-wal-e.conf", check=False).returncode != 0
    assert target.ssh("test -e /etc/cron.d/bedrock-wal-e", check=False).returncode != 0
    assert target.ssh("test -e /etc/cron.d/bedrock-pgbackrest", check=False).returncode == 0
    write_and_archive(target)
    wale_after = wale_segments(target)
    # WAL-E's archive is left as it was, holding everything up to the switch; pgBackRest's continues from there.
    assert set(wale_before) <= set(wale_after)
    first_new = pgbackrest_segments(target)[0]
    assert first_new <= next_segment(wale_after[-1]), (wale_after[-3:], first_new)
    assert target.ssh_out(RUN + "psql -XAt -c 'SELECT pg_postmaster_start_time()'") == started
    drill = target.ssh(RUN + "/usr/local/bin/bedrock-restore-drill --skip-dump --json", check=False)
    assert drill.returncode == 0 and json.loads(drill.stdout)["pitr"]["archiver"] == "pgbackrest", drill.stdout[-2000:]
    res, output = target.play("backups.yml", PGBACKREST)
    assert res.returncode == 0 and "changed=0" in output, output[-3000:]

    # And back: pgBackRest's repository stays, WAL-E takes a base backup at once.
    pgbackrest_before = pgbackrest_segments(target)
    res, output = target.play("backups.yml")
    assert res.returncode == 0, output[-3000:]
    assert "This run moves archiving to wal-e in one reload" in output
    assert target.ssh("test -e /etc/cron.d/bedrock-pgbackrest", check=False).returncode != 0
    write_and_archive(target)
    assert set(pgbackrest_before) <= set(pgbackrest_segments(target))
    resumed = [s for s in wale_segments(target) if s > wale_after[-1]]
    assert resumed and resumed[0] <= next_segment(pgbackrest_segments(target)[-1]), (resumed[:3], pgbackrest_segments(target)[-3:])
    drill = target.ssh(RUN + "/usr/local/bin/bedrock-restore-drill --skip-dump --json", check=False)
    assert drill.returncode == 0 and json.loads(drill.stdout)["pitr"]["archiver"] == "wal-e", drill.stdout[-2000:]
    assert target.ssh_out(RUN + "psql -XAt -c 'SELECT pg_postmaster_start_time()'") == started
