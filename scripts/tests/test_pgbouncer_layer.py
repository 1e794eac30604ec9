"""The PgBouncer layer against one container: refusals before any change, then a converged host where a pool
size change reloads PgBouncer online (same pid) and check mode reports nothing to change; listening wide turns TLS
on, and a renewed certificate is served after a reload, not a restart."""

import pytest

from conftest import DB_HOST_VARS, fresh_target, tls_pair

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


def served_serial(target):
    """The serial of the certificate PgBouncer presents now (openssl speaks PostgreSQL's SSLRequest)."""
    out = target.ssh_out("openssl s_client -starttls postgres -connect 127.0.0.1:6432 </dev/null 2>/dev/null"
                         " | openssl x509 -noout -serial")
    return out.split("=", 1)[1].lower().lstrip("0")


def test_a_renewed_certificate_is_served_after_a_reload_not_a_restart(target):
    from cryptography import x509

    wide = {"pgbouncer_listen_addr": "0.0.0.0", "pgbouncer_listen_wide": True, "pgbouncer_client_sources": ["192.0.2.10"],
            "pgbouncer_default_pool_size": 30, "postgresql_tls_names": [NAME]}
    pids = []
    for round_ in ("first", "renewed"):  # the first turns TLS on with the wide listen (a restart: listen_addr)
        certificate, key = tls_pair(NAME)
        res, _ = target.play("pgbouncer.yml", {**wide, "postgresql_tls_certificate": certificate,
                                               "postgresql_tls_private_key": key})
        assert res.returncode == 0, res.stdout[-3000:]
        pids.append(target.ssh_out("systemctl show -p MainPID --value pgbouncer"))
        serial = format(x509.load_pem_x509_certificate(certificate.encode()).serial_number, "x")
        assert served_serial(target) == serial, round_
    assert pids[0] == pids[1], "a renewed certificate must not restart PgBouncer"
    plain = target.ssh("PGPASSWORD=app-test-password psql -X -At 'host=127.0.0.1 port=6432 dbname=appdb user=app "
                       "sslmode=disable' -c 'SELECT 1'", check=False)
    assert plain.returncode != 0 and "SSL required" in plain.stderr + plain.stdout
    assert "/usr/local/bin/bedrock-tls-check" in target.ssh_out("cat /etc/cron.d/bedrock-pgbouncer-tls")
    check = target.ssh("runuser -u postgres -- /usr/local/bin/bedrock-tls-check /etc/pgbouncer/tls/server.crt", check=False)
    assert check.returncode == 0 and check.stdout.startswith("OK - /etc/pgbouncer/tls/server.crt: expires in"), check.stdout
