"""The backups layer against one container (database host and its own backup store): refusals before any
change, check mode on a fresh host, and a converged host that check mode finds unchanged."""

import pytest

from conftest import DB_HOST_VARS, Target, launch

NAME = "pytest-backups"



@pytest.fixture(scope="module")
def target(tmp_path_factory):
    launch("destroy", NAME, check=False)
    host = Target(NAME, tmp_path_factory.mktemp("bk"), groups=["db", "backup_store"], hostvars=DB_HOST_VARS)
    yield host
    host.destroy()


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
