"""The PostgreSQL layer against one container, run by run: refusals before any change, check mode on a fresh
and a converged host, and reload versus restart (postmaster start time) including the deferred mode."""

import pytest

from conftest import DB_HOST_VARS, fresh_target

NAME = "pytest-postgresql"



@pytest.fixture(scope="module")
def target(tmp_path_factory):
    yield from fresh_target(tmp_path_factory, NAME, ["db"], DB_HOST_VARS)


def psql(target, sql):
    return target.ssh_out(f"runuser -u postgres -- psql -X -At -c \"{sql}\"")


def test_check_mode_on_a_fresh_host_does_not_fail(target):
    res, output = target.play("postgresql.yml", None, "--check", "--diff")
    assert res.returncode == 0 and "failed=0" in output, res.stdout[-3000:]
    assert target.ssh("test -e /etc/postgresql", check=False).returncode != 0, "check mode installed PostgreSQL"


def test_first_install_restarts_once_then_nothing_changes(target):
    """A cluster installed by the run restarts at once for its settings (logging_collector is restart-only and
    off in Debian's default), without a reload and a pending_restart query first."""
    res, output = target.play("postgresql.yml")
    assert res.returncode == 0, res.stdout[-3000:]
    assert psql(target, "SHOW logging_collector") == "on", "the fresh cluster was not restarted"
    assert psql(target, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"
    assert "PostgreSQL restarts for:" not in output, "a fresh cluster needs no pending_restart query"
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
