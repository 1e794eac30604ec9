"""The backups layer against one container (database host and its own backup store): refusals before any
change, check mode on a fresh host, and a converged host that check mode finds unchanged."""

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
    target.ssh(run + "psql -X -q -d bedrock -c \"INSERT INTO heartbeat VALUES (1, now()) ON CONFLICT (id) DO UPDATE "
                     "SET beat = excluded.beat\" -c 'SELECT pg_switch_wal()'")
    drill = target.ssh(run + "/usr/local/bin/bedrock-restore-drill --skip-dump", check=False)
    assert drill.returncode == 0 and "PASS" in drill.stdout, drill.stdout + drill.stderr[-2000:]
