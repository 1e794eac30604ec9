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


def test_a_port_change_waits_for_its_restart_and_the_run_still_connects(target):
    """A new port applies only at a restart: check mode, and a run whose restart is deferred, keep talking to
    PostgreSQL where it listens (they once connected to the new port and failed half-way); after the restart the
    run connects on the new port, and a run back to the old port restarts PostgreSQL onto it."""
    res, output = target.play("postgresql.yml", {"postgresql_port": 5433}, "--check", "--diff")
    assert res.returncode == 0 and "failed=0" in output, res.stdout[-3000:]
    res, output = target.play("postgresql.yml", {"postgresql_port": 5433, "postgresql_restart_deferred": True})
    assert res.returncode == 0, res.stdout[-3000:]
    waiting = output.split("waits for a restart (postgresql_restart_deferred) for: ")[1].split(".")[0].split(", ")
    assert "port" in waiting, output[-2000:]
    # -p: Debian's psql wrapper would take the port from the drop-in, where the new one already stands.
    on_port = "runuser -u postgres -- psql -X -At -p {} -c 'SHOW port'"
    assert target.ssh_out(on_port.format(5432)) == "5432", "a deferred port change restarted PostgreSQL"
    # The operator's restart window; the next run reads the new port from postmaster.pid and finds nothing to do.
    target.ssh_out("systemctl restart postgresql@15-main")
    assert target.ssh_out(on_port.format(5433)) == "5433"
    res, output = target.play("postgresql.yml", {"postgresql_port": 5433, "postgresql_restart_deferred": True})
    assert res.returncode == 0 and "changed=0" in output, res.stdout[-3000:]
    res, output = target.play("postgresql.yml")
    assert res.returncode == 0, res.stdout[-3000:]
    assert psql(target, "SHOW port") == "5432"


def test_a_host_from_an_earlier_version_moves_its_jobs_and_a_stopped_cluster_starts(target):
    """Earlier versions kept the pgbadger job in postgres's crontab: the run moves it to /etc/cron.d (one schedule,
    not two) and leaves other entries alone. A cluster stopped by hand is started again (the pre-flight reads the
    unit; a running, enabled one costs no module run)."""
    legacy = ("#Ansible: bedrock pgbadger incremental report\\n"
              "5 * * * * flock -n /run/lock/bedrock-pgbadger.lock /usr/local/bin/bedrock-pgbadger\\n"
              "#Ansible: the application job\\n0 3 * * * /bin/true\\n")
    target.ssh(f"printf '{legacy}' | crontab -u postgres -")
    target.ssh("systemctl stop postgresql@15-main")
    res, output = target.play("postgresql.yml", {"postgresql_work_mem_mb": 8, "postgresql_shared_buffers_mb": 192})
    assert res.returncode == 0, res.stdout[-3000:]
    assert target.ssh_out("systemctl is-active postgresql@15-main") == "active"
    crontab = target.ssh_out("crontab -l -u postgres")
    assert "bedrock-pgbadger" not in crontab and "0 3 * * * /bin/true" in crontab, crontab
    cron_d = target.ssh_out("cat /etc/cron.d/bedrock-pgbadger")
    assert "postgres flock -n /run/lock/bedrock-pgbadger.lock /usr/local/bin/bedrock-pgbadger" in cron_d
    res, output = target.play("postgresql.yml", {"postgresql_work_mem_mb": 8, "postgresql_shared_buffers_mb": 192},
                              "--check", "--diff")
    assert res.returncode == 0 and "changed=0" in output, res.stdout[-3000:]


def test_a_changed_password_is_applied_and_an_unchanged_one_costs_no_module_run(target):
    """Login roles whose stored SCRAM verifier matches the inventory's password are skipped (no module run); a
    new password in the inventory is applied, and the old one stops working."""
    login = "PGPASSWORD={} psql -X -At -h 127.0.0.1 -U app -d appdb -c 'SELECT current_user'"
    res, output = target.play("postgresql.yml", {"postgresql_work_mem_mb": 8, "postgresql_shared_buffers_mb": 192})
    assert res.returncode == 0 and "changed=0" in output, res.stdout[-3000:]
    roles_task = res.stdout.split("TASK [postgresql : Create login roles]")[1].split("TASK [")[0]
    assert "skipping:" in roles_task and "ok:" not in roles_task, "an unchanged role ran its module: " + roles_task
    users = [{"name": "app", "password": "a-new-app-password"}]
    res, output = target.play("postgresql.yml", {"postgresql_work_mem_mb": 8, "postgresql_shared_buffers_mb": 192,
                                                 "postgresql_users": users})
    assert res.returncode == 0 and "changed=1" in output, res.stdout[-3000:]
    assert target.ssh_out(login.format("a-new-app-password")) == "app"
    assert target.ssh(login.format("app-test-password"), check=False).returncode != 0
