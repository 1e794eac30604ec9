"""PgBouncer live: SCRAM through 6432, no trust, LimitNOFILE as computed, 1000 concurrent clients, saturation."""

import re

PASSWORD = "app-test-password"


def through_bouncer(host, sql, password=PASSWORD, user="app", db="appdb"):
    return host.run("PGPASSWORD=%s psql -X -At -h 127.0.0.1 -p 6432 -U %s -d %s -c %s", password, user, db, sql)


def test_service_runs_as_postgres_and_is_enabled(host):
    service = host.service("pgbouncer")
    assert service.is_running and service.is_enabled
    pid = host.check_output("systemctl show -p MainPID --value pgbouncer")
    assert host.check_output("ps -o user= -p %s", pid) == "postgres"


def test_scram_login_through_pgbouncer_and_a_wrong_password_fails(host):
    ok = through_bouncer(host, "SELECT current_user")
    assert ok.rc == 0 and ok.stdout.strip() == "app", ok.stderr
    bad = through_bouncer(host, "SELECT 1", password="wrong-password")
    assert bad.rc != 0 and ("password authentication failed" in bad.stderr or "SASL authentication failed" in bad.stderr)


def test_config_has_scram_transaction_pooling_and_no_plaintext(host):
    ini = host.file("/etc/pgbouncer/pgbouncer.ini").content_string
    assert re.search(r"^auth_type = scram-sha-256$", ini, re.M)
    assert re.search(r"^pool_mode = transaction$", ini, re.M)
    assert "trust" not in ini
    userlist = host.file("/etc/pgbouncer/userlist.txt")
    assert userlist.mode == 0o640 and userlist.user == "postgres"
    assert PASSWORD not in userlist.content_string and '"app" "SCRAM-SHA-256$' in userlist.content_string


def test_limit_nofile_is_computed_from_max_client_conn(host):
    # max_client_conn 2000 + server connections at most max_connections 100 + margin 100
    assert host.check_output("systemctl show -p LimitNOFILE --value pgbouncer") == "2200"
    pid = host.check_output("systemctl show -p MainPID --value pgbouncer")
    limits = host.file(f"/proc/{pid}/limits").content_string
    assert re.search(r"Max open files\s+2200\s+2200", limits), limits


def test_a_thousand_clients_connect_and_run_with_no_failure(host):
    host.check_output("PGPASSWORD=%s pgbench -i -q -s 1 -h 127.0.0.1 -U app appdb", PASSWORD)
    run = host.run("ulimit -n 8192 && PGPASSWORD=%s pgbench -n -S -h 127.0.0.1 -p 6432 -U app -c 1000 -j 2 -t 5 appdb",
                   PASSWORD)
    assert run.rc == 0, run.stderr[-2000:]
    assert "number of transactions actually processed: 5000/5000" in run.stdout
    assert "number of failed transactions: 0" in run.stdout
    assert "Too many open files" not in host.file("/var/log/postgresql/pgbouncer.log").content_string


def test_saturation_check_reports_ok_and_writes_metrics(host):
    run = host.run("bedrock-pg-saturation --textfile /var/tmp/bedrock-saturation.prom")
    assert run.rc == 0 and run.stdout.startswith("OK: PostgreSQL"), run.stdout + run.stderr
    metrics = host.file("/var/tmp/bedrock-saturation.prom").content_string
    assert "bedrock_pg_connections_available 97" in metrics and "bedrock_pg_saturation_status 0" in metrics


def test_saturation_check_warns_at_80_percent(host):
    # Fill the server to about 85 % of its 97 available slots (PgBouncer may already hold some), then ask.
    used, available = map(int, re.search(r"PostgreSQL (\d+)/(\d+)", host.run("bedrock-pg-saturation").stdout).groups())
    hold = int(available * 0.85) - used
    assert hold > 0
    host.run(f"for i in $(seq {hold}); do (runuser -u postgres -- psql -X -q -c 'SELECT pg_sleep(20)' >/dev/null 2>&1 &); done")
    try:
        for _ in range(20):
            run = host.run("bedrock-pg-saturation")
            if run.rc != 0:
                break
            host.run("sleep 0.5")
        assert run.rc == 1 and run.stdout.startswith("WARNING"), run.stdout
    finally:
        host.run("runuser -u postgres -- psql -X -q -c \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()\"")
