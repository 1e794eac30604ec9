"""PostgreSQL live: settings through SHOW, peer and SCRAM logins, pg_hba, per-database and per-role timeouts."""

import os

import pytest
import yaml

ROLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "roles")

EXPECTED_SHOW = {
    "logging_collector": "on",
    "log_directory": "/var/log/postgresql",
    "log_filename": "postgresql-%Y-%m-%d.log",
    "log_rotation_age": "1d",
    "log_rotation_size": "512MB",
    "log_checkpoints": "on",
    "log_connections": "on",
    "log_disconnections": "on",
    "log_lock_waits": "on",
    "log_temp_files": "0",
    "lc_messages": "C",
    "password_encryption": "scram-sha-256",
}


def test_service_runs_and_is_enabled(host, cluster, psql):
    assert psql("SHOW server_version_num")[:2] == str(cluster["major"])
    service = host.service(cluster["service"])
    assert service.is_running and service.is_enabled


def test_the_shared_cluster_facts_describe_the_live_cluster(host, cluster, psql, setting):
    # postgresql_common is where every role reads the cluster's port, paths and socket: they must be the live ones.
    with open(os.path.join(ROLES, "postgresql_common", "vars", "main.yml")) as fh:
        common = yaml.safe_load(fh)
    assert psql("SHOW data_directory") == cluster["data_dir"]
    assert psql("SHOW config_file") == cluster["conf_dir"] + "/postgresql.conf"
    assert psql("SHOW port") == str(setting("postgresql_port"))
    assert common["postgresql_socket_dir"] in psql("SHOW unix_socket_directories").split(",")
    assert host.socket(f"unix://{common['postgresql_socket_dir']}/.s.PGSQL.{setting('postgresql_port')}").is_listening


@pytest.mark.parametrize("name,value", EXPECTED_SHOW.items())
def test_fixed_settings_are_live(psql, name, value):
    assert psql(f"SHOW {name}") == value


def test_sized_settings_are_live(psql, setting):
    def mb(name):
        return int(psql(f"SELECT pg_size_bytes(current_setting('{name}'))")) // (1024 * 1024)
    assert int(psql("SHOW max_connections")) == setting("postgresql_max_connections")
    assert int(psql("SHOW superuser_reserved_connections")) == setting("postgresql_superuser_reserved_connections")
    assert mb("shared_buffers") == int(setting("postgresql_shared_buffers_mb"))
    assert mb("work_mem") == int(setting("postgresql_work_mem_mb"))
    assert psql("SHOW log_line_prefix") == setting("postgresql_log_line_prefix")
    assert int(psql("SHOW log_min_duration_statement").rstrip("ms") or 0) == setting("postgresql_log_min_duration_statement_ms")
    assert psql("SHOW idle_in_transaction_session_timeout") == setting("postgresql_idle_in_transaction_session_timeout")
    assert psql("SHOW statement_timeout") == setting("postgresql_statement_timeout")


def test_no_setting_waits_for_a_restart(psql):
    assert psql("SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"


def test_peer_login_for_postgres_only(host, psql):
    assert psql("SELECT current_user") == "postgres"
    # root is not postgres: peer refuses it, and there is no trust to fall back on.
    refused = host.run("psql -X -At -U postgres -d postgres -c 'SELECT 1'")
    assert refused.rc != 0 and "authentication failed" in refused.stderr


def test_scram_login_works_and_a_wrong_password_fails(host, setting):
    user = setting("postgresql_users")[0]
    db = setting("postgresql_databases")[0]["name"]
    ok = host.run("PGPASSWORD=%s psql -X -At -h 127.0.0.1 -U %s -d %s -c 'SELECT current_user'",
                  user["password"], user["name"], db)
    assert ok.rc == 0 and ok.stdout.strip() == user["name"], ok.stderr
    bad = host.run("PGPASSWORD=wrong-password psql -X -At -h 127.0.0.1 -U %s -d %s -c 'SELECT 1'", user["name"], db)
    assert bad.rc != 0 and "password authentication failed" in bad.stderr


def test_passwords_are_stored_as_scram_verifiers(psql, setting):
    for user in setting("postgresql_users"):
        assert psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{user['name']}'").startswith("SCRAM-SHA-256$")


def test_pg_hba_has_no_trust_or_md5(psql):
    methods = set(psql("SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE error IS NULL").split())
    assert methods and methods <= {"peer", "scram-sha-256", "reject", "cert"}, methods
    assert psql("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == "0"


def test_statement_timeout_per_database_and_per_role(host, psql, setting):
    user = setting("postgresql_users")[0]
    database = setting("postgresql_databases")[0]
    assert psql("SHOW statement_timeout", db=database["name"]) == database["statement_timeout"]
    as_user = host.check_output("PGPASSWORD=%s psql -X -At -h 127.0.0.1 -U %s -d %s -c 'SHOW statement_timeout'",
                                user["password"], user["name"], database["name"])
    assert as_user == user["statement_timeout"]


def test_on_call_report_counts_connections_and_unindexed_foreign_keys(host, psql, setting):
    db = setting("postgresql_databases")[0]["name"]
    psql("DROP TABLE IF EXISTS fk_child, fk_parent; CREATE TABLE fk_parent (id int PRIMARY KEY); "
         "CREATE TABLE fk_child (id int, parent_id int REFERENCES fk_parent)", db=db)
    report = host.check_output("bedrock-pg-report all %s", db)
    assert "available_to_apps" in report and "fk_child_parent_id_fkey" in report
    psql("CREATE INDEX ON fk_child (parent_id)", db=db)
    assert "fk_child_parent_id_fkey" not in host.check_output("bedrock-pg-report foreign-keys %s", db)
    psql("DROP TABLE fk_child, fk_parent", db=db)
