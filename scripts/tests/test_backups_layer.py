"""The backups layer against one container (database host and its own backup store): refusals before any
change, check mode on a fresh host, and a converged host that check mode finds unchanged."""

import pytest

from conftest import DB_HOST_VARS, Target, launch

NAME = "pytest-backups"

CASES = [
    ("dump-retention-count-0", {"backups_retain_count": 0}, "backups_retain_count must be at least 1, got 0"),
    ("dump-retention-days-0", {"backups_retain_days": 0}, "backups_retain_days must be at least 1, got 0"),
    ("dump-dir-relative", {"backups_dir": "backups"}, 'backups_dir must be an absolute path, got "backups"'),
    ("dump-dir-inside-data-dir", {"backups_dir": "/var/lib/postgresql/15/main/dumps"},
     'backups_dir "/var/lib/postgresql/15/main/dumps" overlaps the PostgreSQL data directory'),
    ("dump-format-unknown", {"backups_format": "tar"}, "backups_format"),
    ("store-host-not-in-group", {"backups_store_host": "elsewhere"},
     'backups_store_host "elsewhere" is not in the inventory\'s backup_store group'),
    ("archive-timeout-0", {"wale_archive_timeout_seconds": 0},
     "wale_archive_timeout_seconds must be between 10 and 3600, got 0"),
    ("archive-timeout-absurd", {"wale_archive_timeout_seconds": 86400},
     "wale_archive_timeout_seconds must be between 10 and 3600, got 86400"),
    ("base-backup-retention-0", {"wale_retain_base_backups": 0}, "wale_retain_base_backups must be at least 1, got 0"),
    ("s3-without-keys", {"wale_store_kind": "s3", "wale_s3_prefix": "s3://bucket/db"},
     "wale_store_kind s3 needs wale_s3_prefix"),
    ("wal-file-store-relative", {"wale_file_dir": "wal"},
     'wale_file_dir must be an absolute path outside the data directory /var/lib/postgresql/15/main, got "wal"'),
    ("wal-file-store-in-data-dir", {"wale_file_dir": "/var/lib/postgresql/15/main/wal-e"},
     "wale_file_dir must be an absolute path outside the data directory"),
    ("store-dir-relative", {"backup_store_dir": "srv"}, 'backup_store_dir must be an absolute path, got "srv"'),
]


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    launch("destroy", NAME, check=False)
    host = Target(NAME, tmp_path_factory.mktemp("bk"), groups=["db", "backup_store"], hostvars=DB_HOST_VARS)
    yield host
    host.destroy()


@pytest.mark.parametrize("case,extra_vars,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_any_change(target, case, extra_vars, message):
    target.assert_refused_before_any_change("backups.yml", case, extra_vars, message)


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
