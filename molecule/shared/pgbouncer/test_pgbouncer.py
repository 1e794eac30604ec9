"""PgBouncer live: SCRAM through 6432, no trust, LimitNOFILE as computed, 1000 concurrent clients, saturation; on
PgBouncer 1.21+ (Debian 13) prepared statements through the transaction pooler, by pgbench and by psycopg 3."""

import re

import pytest

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


def pgbouncer_version(host):
    return tuple(int(x) for x in re.search(r"PgBouncer (\d+)\.(\d+)", host.check_output("pgbouncer --version")).groups())


def test_prepared_statements_setting_follows_the_version(host):
    """1.21+ (Debian 13): Bedrock writes its value (200); 1.18 (Debian 12) has no such setting: none written."""
    ini = host.file("/etc/pgbouncer/pgbouncer.ini").content_string
    if pgbouncer_version(host) >= (1, 21):
        assert re.search(r"^max_prepared_statements = 200$", ini, re.M), ini
        show = host.check_output("runuser -u postgres -- psql -X -At -h /var/run/postgresql -p 6432 -U pgbouncer "
                                 "pgbouncer -c 'SHOW CONFIG'")
        assert re.search(r"^max_prepared_statements\|200\|", show, re.M), show
    else:
        assert "max_prepared_statements" not in ini


def test_prepared_statements_through_the_transaction_pooler_at_200_clients(host):
    """pgbench -M prepared sends protocol-level Parse/Bind/Execute; 200 clients share 20 server connections, so a
    statement prepared on one is executed on another: PgBouncer 1.21+ re-prepares it there. 0 failed.
    Select-only (-S): with the TPC-B script (BEGIN ... END) -M prepared at -c200 -j2 stalled here (25 server
    connections "idle in transaction" after BEGIN, waiting for their client; 0 xacts/s until query_wait_timeout).
    Most likely pgbench itself: it prepares synchronously in a thread that serves 100 clients, so it waits for a
    server connection that its own idle clients hold; an application's driver waits per connection."""
    if pgbouncer_version(host) < (1, 21):
        pytest.skip("PgBouncer 1.18 (Debian 12) has no prepared-statement support in transaction pooling")
    host.check_output("PGPASSWORD=%s pgbench -i -q -s 1 -h 127.0.0.1 -U app appdb", PASSWORD)
    run = host.run("ulimit -n 8192 && PGPASSWORD=%s pgbench -n -S -M prepared -h 127.0.0.1 -p 6432 -U app -c 200 -j 2 "
                   "-t 20 appdb", PASSWORD)
    assert run.rc == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "number of transactions actually processed: 4000/4000" in run.stdout, run.stdout
    assert "number of failed transactions: 0" in run.stdout
    assert "does not exist" not in run.stderr


PSYCOPG_PREPARED = """
import threading, psycopg
errors = []
def client(n):
    try:
        # prepare_threshold=0: every query is prepared server-side (named), executed in its own transaction.
        with psycopg.connect(host="127.0.0.1", port=6432, dbname="appdb", user="app", password="%s",
                             autocommit=True, prepare_threshold=0) as conn:
            for i in range(50):
                assert conn.execute("SELECT %%s::int + 1", (i,)).fetchone()[0] == i + 1
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=client, args=(n,)) for n in range(40)]
[t.start() for t in threads]; [t.join() for t in threads]
print(len(errors), errors[:3])
""" % PASSWORD


def test_psycopg3_server_side_prepare_through_the_transaction_pooler(host):
    """A driver as applications use it: psycopg 3 (Debian's python3-psycopg) preparing every query, 40 clients in
    threads, 2000 statements, each in its own transaction: no "prepared statement does not exist"."""
    if pgbouncer_version(host) < (1, 21):
        pytest.skip("PgBouncer 1.18 (Debian 12) has no prepared-statement support in transaction pooling")
    host.check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-psycopg")
    run = host.run("python3 -c %s", PSYCOPG_PREPARED)
    assert run.rc == 0 and run.stdout.strip() == "0 []", run.stdout + run.stderr


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


def processes(host):
    """pgbouncer_processes as the scenario sets it (1 unless its hosts.yml says otherwise)."""
    return int(host.ansible.get_variables().get("pgbouncer_processes", 1))


def listener_pids(host):
    out = host.check_output("ss -Hltnp 'sport = :6432'")
    return sorted(set(re.findall(r"pid=(\d+)", out)))


def console(host, sql, socket_dir="/var/run/postgresql"):
    return host.check_output("runuser -u postgres -- psql -X -At -h %s -p 6432 -U pgbouncer pgbouncer -c %s",
                             socket_dir, sql)


def test_every_process_listens_on_the_one_port_with_its_limit(host):
    """pgbouncer_processes N: N PgBouncer processes accept on 6432 (so_reuseport), each with LimitNOFILE 2200."""
    wanted = processes(host)
    pids = listener_pids(host)
    assert len(pids) == wanted, pids
    units = ["pgbouncer"] + [f"bedrock-pgbouncer@{n}" for n in range(2, wanted + 1)]
    main_pids = sorted(host.check_output("systemctl show -p MainPID --value %s", unit) for unit in units)
    assert main_pids == pids
    for pid in pids:
        assert re.search(r"Max open files\s+2200\s+2200", host.file(f"/proc/{pid}/limits").content_string)
        assert host.check_output("ps -o user= -p %s", pid) == "postgres"
    for unit in units[1:]:
        assert host.service(unit).is_enabled


def test_clients_are_spread_over_every_process(host):
    """The kernel hands new connections to each process: every console's SHOW STATS counts transactions."""
    if processes(host) < 2:
        pytest.skip("one PgBouncer process")
    dirs = ["/var/run/postgresql"] + [f"/run/bedrock-pgbouncer-{n}" for n in range(2, processes(host) + 1)]

    def counts():
        return [sum(int(line.split("|")[1]) for line in console(host, "SHOW STATS", d).splitlines()) for d in dirs]
    before = counts()
    host.check_output("PGPASSWORD=%s pgbench -n -S -C -h 127.0.0.1 -p 6432 -U app -c 20 -j 2 -t 20 appdb", PASSWORD)
    gained = [after - b for after, b in zip(counts(), before)]
    assert all(g > 0 for g in gained), gained


def test_a_cancel_reaches_the_process_that_holds_the_query(host):
    """psql sends its cancel request on a new connection, which the kernel may give to the other process; the peers
    forward it. Ten long queries cancelled after 2 s: each ends at once (without peering about half would run on)."""
    if processes(host) < 2:
        pytest.skip("one PgBouncer process")
    for _ in range(10):
        run = host.run("start=$(date +%%s); PGPASSWORD=%s timeout -s INT 2 psql -X -h 127.0.0.1 -p 6432 -U app appdb "
                       "-c 'SELECT pg_sleep(30)'; echo elapsed=$(( $(date +%%s) - start ))", PASSWORD)
        assert "canceling statement due to user request" in run.stderr, run.stdout + run.stderr
        assert int(re.search(r"elapsed=(\d+)", run.stdout).group(1)) <= 6, run.stdout
    peers = console(host, "SHOW PEERS")
    assert len(peers.splitlines()) >= processes(host) - 1, peers


def test_saturation_check_reads_every_process(host):
    """Clients waiting in process 2 only (its own socket, more than its pool and reserve): the check counts them."""
    if processes(host) < 2:
        pytest.skip("one PgBouncer process")
    host.run("for i in $(seq 35); do (PGPASSWORD=%s psql -X -q -h /run/bedrock-pgbouncer-2 -p 6432 -U app appdb "
             "-c 'SELECT pg_sleep(15)' >/dev/null 2>&1 &); done", PASSWORD)
    try:
        for _ in range(20):
            run = host.run("bedrock-pg-saturation")
            if "0 clients waiting" not in run.stdout:
                break
            host.run("sleep 0.5")
        assert run.rc >= 1 and re.search(r"PgBouncer [1-9]\d* clients waiting", run.stdout), run.stdout
        assert f"({processes(host)} processes)" in run.stdout, run.stdout
    finally:
        host.run("runuser -u postgres -- psql -X -q -c \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()\"")
        host.run("sleep 2")
