"""The PgBouncer layer against one container: refusals before any change, then a converged host where a pool
size change reloads PgBouncer online (same pid) and check mode reports nothing to change."""

import pytest

from conftest import DB_HOST_VARS, fresh_target

NAME = "pytest-pgbouncer"



@pytest.fixture(scope="module")
def target(tmp_path_factory):
    yield from fresh_target(tmp_path_factory, NAME, ["db", "pgbouncer"], DB_HOST_VARS)


def console(target, command):
    return target.ssh_out(f"runuser -u postgres -- psql -X -At -h /var/run/postgresql -p 6432 -U pgbouncer "
                          f"pgbouncer -c '{command}'")


def test_pool_size_change_reloads_online(target):
    for playbook in ("postgresql.yml", "pgbouncer.yml"):
        res, _ = target.play(playbook)
        assert res.returncode == 0, res.stdout[-3000:]
    pid = target.ssh_out("systemctl show -p MainPID --value pgbouncer")
    assert "default_pool_size|20|" in console(target, "SHOW CONFIG")
    res, _ = target.play("pgbouncer.yml", {"pgbouncer_default_pool_size": 30})
    assert res.returncode == 0, res.stdout[-3000:]
    assert "default_pool_size|30|" in console(target, "SHOW CONFIG")
    assert target.ssh_out("systemctl show -p MainPID --value pgbouncer") == pid, "a pool size change must not restart"
    assert target.ssh_out("systemctl show -p LimitNOFILE --value pgbouncer") == str(2000 + 100 + 100)


def test_check_mode_on_the_converged_host_changes_nothing(target):
    res, output = target.play("pgbouncer.yml", {"pgbouncer_default_pool_size": 30}, "--check", "--diff")
    assert res.returncode == 0 and "changed=0" in output and "failed=0" in output, res.stdout[-3000:]
