"""The PostgreSQL layer against one container, run by run: refusals before any change, check mode on a fresh
and a converged host, and reload versus restart (postmaster start time) including the deferred mode."""

import pytest

from conftest import DB_HOST_VARS, Target, launch

NAME = "pytest-postgresql"

CASES = [
    ("shared-buffers-over-ram", {"postgresql_shared_buffers_mb": 10_000_000},
     "postgresql_shared_buffers_mb (10000000 MiB) must stay below this host's RAM"),
    ("worst-case-over-ram", {"postgresql_max_connections": 100_000, "postgresql_work_mem_mb": 64},
     "Worst-case memory"),
    ("reserved-not-below-max", {"postgresql_max_connections": 3, "postgresql_superuser_reserved_connections": 3},
     "postgresql_max_connections (3) must be greater than postgresql_superuser_reserved_connections (3)"),
    ("hba-trust", {"postgresql_hba_entries": [{"type": "host", "database": "all", "user": "all",
                                               "address": "0.0.0.0/0", "method": "trust"}]}, "method"),
    ("hba-md5", {"postgresql_hba_entries": [{"type": "host", "database": "all", "user": "all",
                                             "address": "10.0.0.0/8", "method": "md5"}]}, "method"),
    ("missing-vault-password", {"postgresql_users": [{"name": "app"}]}, "postgresql_users: no password for app"),
    ("empty-password", {"postgresql_users": [{"name": "app", "password": ""}]}, "postgresql_users: no password for app"),
    ("pgbadger-retention-0", {"pgbadger_retention_days": 0}, "pgbadger_retention_days must be at least 1"),
    ("max-connections-not-int", {"postgresql_max_connections": "many"}, "postgresql_max_connections"),
]


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    launch("destroy", NAME, check=False)
    host = Target(NAME, tmp_path_factory.mktemp("pg"), groups=["db"], hostvars=DB_HOST_VARS)
    yield host
    host.destroy()


def psql(target, sql):
    return target.ssh_out(f"runuser -u postgres -- psql -X -At -c \"{sql}\"")


@pytest.mark.parametrize("case,extra_vars,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_any_change(target, case, extra_vars, message):
    target.assert_refused_before_any_change("postgresql.yml", case, extra_vars, message)


def test_check_mode_on_a_fresh_host_does_not_fail(target):
    res, output = target.play("postgresql.yml", None, "--check", "--diff")
    assert res.returncode == 0 and "failed=0" in output, res.stdout[-3000:]
    assert target.ssh("test -e /etc/postgresql", check=False).returncode != 0, "check mode installed PostgreSQL"


def test_first_install_restarts_once_then_nothing_changes(target):
    res, output = target.play("postgresql.yml")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "PostgreSQL restarts for:" in output and "shared_buffers" in output
    res, output = target.play("postgresql.yml", None, "--check", "--diff")
    assert res.returncode == 0 and "changed=0" in output and "failed=0" in output, res.stdout[-3000:]


def test_a_reload_suffices_for_work_mem(target):
    started = psql(target, "SELECT pg_postmaster_start_time()")
    res, output = target.play("postgresql.yml", {"postgresql_work_mem_mb": 8})
    assert res.returncode == 0, res.stdout[-3000:]
    assert psql(target, "SHOW work_mem") == "8MB"
    assert psql(target, "SELECT pg_postmaster_start_time()") == started, "work_mem must not restart PostgreSQL"
    assert "PostgreSQL restarts for" not in output


def test_shared_buffers_restart_says_why(target):
    started = psql(target, "SELECT pg_postmaster_start_time()")
    res, output = target.play("postgresql.yml", {"postgresql_work_mem_mb": 8, "postgresql_shared_buffers_mb": 160})
    assert res.returncode == 0, res.stdout[-3000:]
    assert "PostgreSQL restarts for: shared_buffers." in output
    assert psql(target, "SHOW shared_buffers") == "160MB"
    assert psql(target, "SELECT pg_postmaster_start_time()") != started


def test_deferred_mode_only_reports(target):
    started = psql(target, "SELECT pg_postmaster_start_time()")
    res, output = target.play("postgresql.yml", {"postgresql_work_mem_mb": 8, "postgresql_shared_buffers_mb": 192,
                                                 "postgresql_restart_deferred": True})
    assert res.returncode == 0, res.stdout[-3000:]
    assert "waits for a restart (postgresql_restart_deferred) for: shared_buffers." in output
    assert psql(target, "SELECT pg_postmaster_start_time()") == started
    assert psql(target, "SELECT name FROM pg_settings WHERE pending_restart") == "shared_buffers"
    assert psql(target, "SHOW shared_buffers") == "160MB"
