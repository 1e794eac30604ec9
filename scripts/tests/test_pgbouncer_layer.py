"""The PgBouncer layer against one container: refusals before any change, then a converged host where a pool
size change reloads PgBouncer online (same pid) and check mode reports nothing to change."""

import pytest

from conftest import DB_HOST_VARS, Target, launch

NAME = "pytest-pgbouncer"

CASES = [
    ("pools-over-server-slots", {"pgbouncer_default_pool_size": 200},
     "pgbouncer_default_pool_size/pgbouncer_databases: the pools may open 205 server connections"),
    ("max-client-conn-over-file-max", {"pgbouncer_max_client_conn": 50_000_000},
     "pgbouncer_max_client_conn (50000000) needs LimitNOFILE=50000200, above fs.file-max"),
    ("auth-trust", {"pgbouncer_auth_type": "trust"}, "pgbouncer_auth_type"),
    ("auth-plain", {"pgbouncer_auth_type": "plain"}, "pgbouncer_auth_type"),
    ("auth-any", {"pgbouncer_auth_type": "any"}, "pgbouncer_auth_type"),
    ("listen-wide-without-opt-in", {"pgbouncer_listen_addr": "0.0.0.0"},
     'pgbouncer_listen_addr "0.0.0.0" listens beyond loopback; set pgbouncer_listen_wide: true'),
    ("console-user-without-login", {"pgbouncer_stats_users": ["monitor"]},
     "pgbouncer_admin_users/pgbouncer_stats_users must also be in pgbouncer_auth_users"),
]


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    launch("destroy", NAME, check=False)
    host = Target(NAME, tmp_path_factory.mktemp("pgb"), groups=["db", "pgbouncer"], hostvars=DB_HOST_VARS)
    yield host
    host.destroy()


@pytest.mark.parametrize("case,extra_vars,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_any_change(target, case, extra_vars, message):
    target.assert_refused_before_any_change("pgbouncer.yml", case, extra_vars, message)


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
