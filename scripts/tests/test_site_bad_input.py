"""Bad inventories: each is refused by site.yml's pre-flight with a message that names the variable, the value and
the rule, before anything on the host changes. One container plays every group (db, pgbouncer, backup_store), first
converged by site.yml with a good development-like inventory; each case overrides it. Two tables: CASES, written by
hand (mostly checks against the host and across variables), and a table generated from the roles' rules
(rule_cases.py): every bound +-1, wrong types, spaces, empties, references, placements, port collisions, refused;
every valid bound accepted by a check-mode converge. Runs go four at a time against the same host (a refused run
changes nothing: /etc, the database's roles, databases and settings, and the services' start times are compared
before and after)."""

import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

import rule_cases
from conftest import DB_HOST_VARS, REPO, fresh_target, tls_pair

NAME = "pytest-site-bad-input"

# A good inventory: the database host's variables, its secret from the (here plain) vault variable.
GOOD = {
    **DB_HOST_VARS,
    "bedrock_environment": "development",
    "bedrock_required_secrets": ["vault_postgresql_app_password"],
    "vault_postgresql_app_password": "not-a-demo-secret",
    "postgresql_users": [{"name": "app", "password": "{{ vault_postgresql_app_password }}"}],
}

def tls(certificate, key):
    return {"postgresql_tls_certificate": certificate, "postgresql_tls_private_key": key,
            "postgresql_tls_names": [NAME]}


GOOD_PAIR = tls_pair(NAME)
GOOD_TLS = tls(*GOOD_PAIR)
# An inventory's tls/ folder as playbooks/tls-ca.yml leaves it, before its keys are encrypted.
PLAIN_TLS_DIR = tempfile.mkdtemp(prefix="bedrock-bad-input-tls-")
for suffix, text in zip((".crt", ".key"), GOOD_PAIR):
    with open(os.path.join(PLAIN_TLS_DIR, NAME + suffix), "w") as fh:
        fh.write(text)
EXPIRED = tls_pair(NAME, days_from=-400, days_to=-3)
OTHER_KEY = tls_pair(NAME)[1]

CASES = [
    # secrets and environments
    ("secret-missing", {"vault_postgresql_app_password": ""},
     "bedrock_required_secrets: vault_postgresql_app_password missing or empty for environment development"),
    ("secret-never-set", {"bedrock_required_secrets": ["vault_wale_aws_secret_access_key"]},
     "bedrock_required_secrets: vault_wale_aws_secret_access_key missing or empty"),
    ("demo-secret-in-production", {"bedrock_environment": "production",
                                   "vault_postgresql_app_password": "demo-app-password-development"},
     "bedrock_environment production refuses the shipped demo secrets (\"demo-...\"): vault_postgresql_app_password"),
    ("demo-secret-in-staging", {"bedrock_environment": "staging",
                                "vault_postgresql_app_password": "demo-app-password-sandbox"},
     "bedrock_environment staging refuses the shipped demo secrets"),
    # os
    ("swappiness-101", {"sysctl_overrides": {"vm.swappiness": 101}}, "vm.swappiness must be 0-100, got 101"),
    ("reversed-port-range", {"sysctl_overrides": {"net.ipv4.ip_local_port_range": "65000 10000"}},
     "net.ipv4.ip_local_port_range must be"),
    ("non-numeric-sysctl", {"sysctl_overrides": {"net.core.somaxconn": "lots"}}, "net.core.somaxconn=lots"),
    ("tcp-tw-recycle", {"sysctl_overrides": {"net.ipv4.tcp_tw_recycle": 1}},
     "net.ipv4.tcp_tw_recycle is refused"),
    ("swap-larger-than-disk", {"swap_size_mb": 50_000_000}, "swap_size_mb: 50000000 MiB does not fit"),
    ("swap-relative-path", {"swap_file": "swapfile"}, "swap_file"),
    ("nofile-above-nr-open", {"limits_entries": [{"domain": "app", "nofile_soft": 1024, "nofile_hard": 2_000_000_000}]},
     "nofile_hard 2000000000 is above fs.nr_open"),
    ("nofile-soft-above-hard", {"limits_entries": [{"domain": "app", "nofile_soft": 9000, "nofile_hard": 8000}]},
     "limits_entries: app nofile_soft 9000 is above nofile_hard 8000"),
    # One owner per setting: PgBouncer's descriptor limit is the pgbouncer role's (derived, restarts for it).
    ("limits-claims-pgbouncer", {"limits_systemd_services": [{"name": "pgbouncer", "nofile": 4096}]},
     "limits_systemd_services names pgbouncer: the pgbouncer role owns that service's limits"),
    ("service-nofile-above-nr-open", {"limits_systemd_services": [{"name": "cron", "nofile": 2_000_000_000}]},
     "limits_systemd_services: cron nofile 2000000000 is above fs.nr_open"),
    ("mount-point-missing", {"fstab_noatime_mount_points": ["/srv/nope"]}, "not mounted: /srv/nope"),
    ("tmp-size-malformed", {"fstab_tmp_size": "lots"},
     'fstab_tmp_size must be a size (digits with k, m or g, e.g. 512m) or a percentage of RAM from 1% to 100%, got "lots"'),
    ("swap-size-not-int", {"swap_size_mb": "big"}, "swap_size_mb"),
    ("noatime-option-unknown", {"fstab_noatime_options": ["relatime"]}, "fstab_noatime_options"),
    # postgresql
    ("shared-buffers-over-ram", {"postgresql_shared_buffers_mb": 10_000_000},
     "postgresql_shared_buffers_mb (10000000 MiB) must stay below this host's RAM"),
    ("worst-case-over-ram", {"postgresql_max_connections": 100_000, "postgresql_work_mem_mb": 64},
     "Worst-case memory"),
    ("reserved-not-below-max", {"postgresql_max_connections": 10, "postgresql_superuser_reserved_connections": 10},
     "postgresql_max_connections (10) must be greater than postgresql_superuser_reserved_connections (10)"),
    ("hba-trust", {"postgresql_hba_entries": [{"type": "host", "database": "all", "user": "all",
                                               "address": "0.0.0.0/0", "method": "trust"}]}, "method"),
    ("hba-md5", {"postgresql_hba_entries": [{"type": "host", "database": "all", "user": "all",
                                             "address": "10.0.0.0/8", "method": "md5"}]}, "method"),
    ("missing-vault-password", {"postgresql_users": [{"name": "app"}]}, "postgresql_users: no password for app"),
    ("empty-password", {"postgresql_users": [{"name": "app", "password": ""}]}, "postgresql_users: no password for app"),
    ("restore-pending-from-the-inventory", {"postgresql_common_restore_pending": True},
     "postgresql_common_restore_pending must be false in an inventory or on the command line, got true"),
    ("pgbadger-retention-0", {"pgbadger_retention_days": 0}, "pgbadger_retention_days must be at least 1, got 0"),
    ("max-connections-not-int", {"postgresql_max_connections": "many"}, "postgresql_max_connections"),
    # pgbouncer
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
     'pgbouncer_stats_users[0] names "monitor", which is not in pgbouncer_auth_users[]'),
    # backups
    ("dump-retention-count-0", {"backups_retain_count": 0}, "backups_retain_count must be at least 1, got 0"),
    ("dump-retention-days-0", {"backups_retain_days": 0}, "backups_retain_days must be at least 1, got 0"),
    ("dump-dir-relative", {"backups_dir": "backups"}, 'backups_dir must be an absolute path without spaces or quotes, got "backups"'),
    ("dump-dir-inside-data-dir", {"backups_dir": "/var/lib/postgresql/15/main/dumps"},
     'backups_dir "/var/lib/postgresql/15/main/dumps" overlaps the PostgreSQL data directory'),
    ("dump-format-unknown", {"backups_format": "tar"}, "backups_format"),
    ("store-host-not-in-group", {"backups_store_host": "elsewhere"},
     'backups_store_host "elsewhere" is not in the inventory\'s backup_store group'),
    ("archive-timeout-0", {"wale_archive_timeout_seconds": 0},
     "wale_archive_timeout_seconds must be between 10 and 3600, got 0"),
    ("archive-timeout-absurd", {"wale_archive_timeout_seconds": 86400},
     "wale_archive_timeout_seconds must be between 10 and 3600, got 86400"),
    ("base-backup-retention-0", {"wale_retain_base_backups": 0}, "wale_retain_base_backups must be at least 1, got 0"),
    ("s3-without-keys", {"wale_store_kind": "s3", "wale_s3_prefix": "s3://bucket/db"},
     "wale_store_kind s3 needs wale_s3_prefix"),
    ("wal-file-store-relative", {"wale_file_dir": "wal"},
     'wale_file_dir must be an absolute path without spaces or quotes, got "wal"'),
    ("wal-file-store-in-data-dir", {"wale_file_dir": "/var/lib/postgresql/15/main/wal-e"},
     "wale_file_dir must be an absolute path outside the data directory"),
    ("unknown-archiver", {"backups_archiver": "barman"}, 'backups_archiver must be one of wal-e, pgbackrest, got "barman"'),
    ("pgbackrest-cipher-without-key", {"backups_archiver": "pgbackrest"},
     "pgbackrest_cipher_type aes-256-cbc needs pgbackrest_cipher_pass"),
    ("pgbackrest-repo-on-the-data-disk", {"backups_archiver": "pgbackrest", "pgbackrest_cipher_pass": "x" * 20},
     'pgbackrest_repo_path "/var/lib/pgbackrest" lies on /, the filesystem of the data directory'),
    ("pgbackrest-s3-without-keys", {"backups_archiver": "pgbackrest", "pgbackrest_cipher_pass": "x" * 20,
                                    "pgbackrest_repo_type": "s3", "pgbackrest_repo_s3_bucket": "bedrock-backups",
                                    "pgbackrest_repo_s3_endpoint": "s3.example.net"},
     "pgbackrest_repo_type s3 needs pgbackrest_repo_s3_key, pgbackrest_repo_s3_key_secret, got empty"),
    ("pgbackrest-repo-host-not-in-inventory", {"backups_archiver": "pgbackrest", "pgbackrest_cipher_pass": "x" * 20,
                                               "pgbackrest_repo_host": "elsewhere"},
     'pgbackrest_repo_host "elsewhere" is not a host of the inventory.'),
    ("pgbackrest-repo-host-is-itself", {"backups_archiver": "pgbackrest", "pgbackrest_cipher_pass": "x" * 20,
                                        "pgbackrest_repo_host": NAME},
     f'pgbackrest_repo_host "{NAME}" is this database host itself'),
    # Outside development and the sandbox the backups outlive the host (this host is also its own store here).
    ("production-wal-archive-on-the-host", {"bedrock_environment": "production"},
     'bedrock_environment production keeps the WAL archive off the database host, but wale_file_dir '
     '"/var/lib/bedrock-wal-e" lies on this host\'s own'),
    ("production-repository-on-the-host", {"bedrock_environment": "staging", "backups_archiver": "pgbackrest",
                                           "pgbackrest_cipher_pass": "x" * 20, "pgbackrest_repo_on_database_disk": True},
     'bedrock_environment staging keeps the repository off the database host, but pgbackrest_repo_path '
     '"/var/lib/pgbackrest" lies on this host\'s own'),
    ("production-dumps-on-the-host", {"bedrock_environment": "production", "wale_store_kind": "s3",
                                      "wale_s3_prefix": "s3://bucket/db", "wale_aws_access_key_id": "k",
                                      "wale_aws_secret_access_key": "s"},
     f'bedrock_environment production keeps the dumps off the database host, but backups_store_host "{NAME}" is this '
     'host itself'),
    ("prepared-statements-on-pgbouncer-1.18", {"pgbouncer_max_prepared_statements": 100},
     "pgbouncer_max_prepared_statements must be 0 with PgBouncer 1.18 (Debian 12): prepared statements in transaction "
     "pooling need PgBouncer 1.21 or later (Debian 13), got 100."),
    ("processes-on-pgbouncer-1.18", {"pgbouncer_processes": 2},
     "pgbouncer_processes must be 1 with PgBouncer 1.18 (Debian 12): processes sharing one port need peering, "
     "PgBouncer 1.19 or later (Debian 13), got 2."),
    ("store-dir-relative", {"backup_store_dir": "srv"}, 'backup_store_dir must be an absolute path without spaces or quotes, got "srv"'),
    # the network layer: nothing that would shut this run out, nothing open to no one
    ("ssh-sources-leave-out-the-controller", {"firewall_ssh_sources": ["192.0.2.0/24"]},
     "firewall_ssh_sources: 192.0.2.0/24 leaves out 10."),
    ("ssh-port-not-the-runs", {"firewall_ssh_port": 2222},
     "firewall_ssh_port: 2222, but this run reaches sshd on port 22: the firewall would cut it off."),
    ("pgbouncer-wide-without-sources", {"pgbouncer_listen_addr": "0.0.0.0", "pgbouncer_listen_wide": True},
     "pgbouncer_client_sources is empty while pgbouncer_listen_wide is true"),
    ("postgresql-wide-without-remote-entries", {"postgresql_listen_addresses": "*", **GOOD_TLS},
     "postgresql: port 5432 would be open to no one: postgresql_hba_entries (beyond loopback) names no address"),
    ("hba-samenet-behind-the-firewall", {"postgresql_listen_addresses": "*", **GOOD_TLS, "postgresql_hba_entries": [
        {"type": "hostssl", "database": "all", "user": "all", "address": "samenet", "method": "scram-sha-256"}]},
     "postgresql_hba_entries: an entry's address samenet cannot be opened by the firewall"),
    ("allow-groups-without-the-runs-account", {"sshd_allow_groups": ["sudo"]},
     "sshd_allow_groups: sudo holds none of the groups of root, the account this run connects as (root)"),
    ("root-refused-while-the-run-is-root", {"sshd_permit_root_login": "no"},
     "sshd_permit_root_login: no, but this run connects as root"),
    # TLS wherever PostgreSQL or PgBouncer listens beyond the host, with a pair that is right
    ("tls-certificate-not-its-key", tls(GOOD_TLS["postgresql_tls_certificate"], OTHER_KEY),
     "does not match postgresql_tls_private_key: the key's public key is not the certificate's"),
    ("tls-certificate-expired", tls(*EXPIRED), "(UTC): expired; issue a new one"),
    ("tls-certificate-without-the-name", {**GOOD_TLS, "postgresql_tls_names": [NAME, "db.example"]},
     "not db.example from postgresql_tls_names"),
    ("tls-key-without-certificate", {"postgresql_tls_private_key": OTHER_KEY},
     "postgresql_tls_certificate is empty while postgresql_tls_private_key is set"),
    ("tls-key-file-in-clear-text-in-production", {"bedrock_environment": "production", "postgresql_tls_dir": PLAIN_TLS_DIR,
                                                  "postgresql_tls_names": [NAME]},
     f"postgresql_tls_private_key: {PLAIN_TLS_DIR}/{NAME}.key not encrypted (bedrock_environment production)"),
    ("pgbouncer-wide-without-certificate", {"pgbouncer_listen_addr": "0.0.0.0", "pgbouncer_listen_wide": True,
                                            "pgbouncer_client_sources": ["192.0.2.10"]},
     "pgbouncer_listen_wide is true, which needs TLS (client_tls_sslmode = require), but postgresql_tls_certificate is"),
    ("postgresql-wide-without-certificate", {"postgresql_listen_addresses": "*", "postgresql_hba_entries": [
        {"type": "hostssl", "database": "all", "user": "all", "address": "192.0.2.0/24", "method": "scram-sha-256"}]},
     'postgresql_listen_addresses "*" listens beyond the host, which needs TLS'),
    ("hba-remote-entry-in-clear-text", {"postgresql_hba_entries": [
        {"type": "host", "database": "all", "user": "all", "address": "192.0.2.0/24", "method": "scram-sha-256"}]},
     "admits clients beyond the host without TLS: the type must be hostssl"),
]


# What a refused run must leave as it was: /etc, the cluster's roles (with their verifiers), databases and per-role or
# per-database settings, postgresql.auto.conf, and when PostgreSQL and PgBouncer started (no restart, no reload of
# a changed file).
DB_STATE = ("runuser -u postgres -- psql -XAtq -c \"select pg_postmaster_start_time(), pg_conf_load_time(), "
            "(select md5(string_agg(rolname || coalesce(rolpassword, ''), ',' order by rolname)) from pg_authid), "
            "(select string_agg(datname, ',' order by datname) from pg_database), "
            "(select md5(coalesce(string_agg(setdatabase || '/' || setrole || array_to_string(setconfig, ','), ';' "
            "order by setdatabase, setrole), '')) from pg_db_role_setting)\"; "
            "sha256sum /var/lib/postgresql/*/main/postgresql.auto.conf; systemctl show -p MainPID pgbouncer")
# A refusal message that crashed instead of saying what is wrong.
CRASH_MARKERS = ("Traceback", "nhandled exception", "is undefined", "rror rendering", "rror while templating",
                 "Syntax error in template", "has no attribute", "unsupported operand", "not supported between")


def host_state(target):
    return target.etc_checksums() + target.ssh_out(DB_STATE)


def refused_in_preflight(res, output):
    """(ok, why): refused (non-zero), by the pre-flight (no layer play started), nothing changed, no crash."""
    if res.returncode == 0:
        return False, "accepted"
    if "PLAY [OS layer]" in output:
        return False, "refused late, after the pre-flight"
    if "changed=0" not in output:
        return False, "changed something"
    crash = [m for m in CRASH_MARKERS if m in output]
    return (False, f"crashed ({crash[0]})") if crash else (True, "")


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    for host in fresh_target(tmp_path_factory, NAME, ["db", "pgbouncer", "backup_store"], GOOD):
        res, _ = host.play("../site.yml")
        assert res.returncode == 0, f"the good inventory did not converge:\n{res.stdout[-3000:]}"
        yield host


@pytest.fixture(scope="module")
def generated(target):
    own, across, valid = rule_cases.generate(GOOD, target.name)
    return {"own": rule_cases.rounds(own), "across": [[case] for case in across],
            "valid": rule_cases.rounds(valid, by_role=False)}


def merged(batch):
    extra = {}
    for case in batch:
        extra.update(case.extra)
    return extra


@pytest.fixture(scope="module")
def refusals(target, generated):
    before = host_state(target)
    runs = {f"hand:{case}": (extra_vars, ()) for case, extra_vars, _ in CASES}
    for kind in ("own", "across"):
        runs.update({f"{kind}:{i}": (merged(batch), ()) for i, batch in enumerate(generated[kind])})
    runs.update({f"valid:{i}": (merged(batch), ("--check",)) for i, batch in enumerate(generated["valid"])})
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(target.play, "../site.yml", extra, *args, vars_file=f"{key.replace(':', '-')}.yml")
                   for key, (extra, args) in runs.items()}
        results = {key: future.result() for key, future in futures.items()}
        # A valid batch that failed is run again case by case, so the one value at fault is named.
        again = {f"valid:{i}:{j}": pool.submit(target.play, "../site.yml", case.extra, "--check",
                                               vars_file=f"valid-{i}-{j}.yml")
                 for i, batch in enumerate(generated["valid"]) if results[f"valid:{i}"][0].returncode != 0
                 for j, case in enumerate(batch) if len(batch) > 1}
        results.update({key: future.result() for key, future in again.items()})
    return before, results, host_state(target)


@pytest.mark.parametrize("case,extra_vars,message", CASES, ids=[c[0] for c in CASES])
def test_bad_inventory_is_refused(refusals, case, extra_vars, message):
    res, output = refusals[1][f"hand:{case}"]
    ok, why = refused_in_preflight(res, output)
    assert ok, f"{case}: {why}:\n{res.stdout[-3000:]}"
    assert message in output, f"{case}: expected {message!r} in:\n{res.stdout[-3000:]}"


def generated_failures(refusals, generated, kind):
    failures = []
    for i, batch in enumerate(generated[kind]):
        res, output = refusals[1][f"{kind}:{i}"]
        ok, why = refused_in_preflight(res, output)
        for case in batch:
            missing = [name for name in case.expect if name not in output]
            if not ok or missing:
                failures.append(f"{case.id}: {why or 'refused without naming ' + ', '.join(missing)}")
        if failures and not ok:
            failures.append(f"   run {kind}:{i} said: {output[-1500:]}")
    return failures


def test_every_generated_bad_value_is_refused_by_its_own_rule(refusals, generated):
    """Each value that breaks a role's own rule (type, range, format, cron field, key, duplicate) is refused in the
    pre-flight by a sentence naming the variable; one run holds many cases of one role."""
    failures = generated_failures(refusals, generated, "own")
    assert not failures, "\n".join(failures)


def test_every_generated_reference_placement_and_collision_is_refused(refusals, generated):
    """A name no list holds, a persisting path on a tmpfs, two services on one port: refused before any change."""
    failures = generated_failures(refusals, generated, "across")
    assert not failures, "\n".join(failures)


def test_every_valid_bound_converges_in_check_mode(refusals, generated):
    failures = []
    for i, batch in enumerate(generated["valid"]):
        res, output = refusals[1][f"valid:{i}"]
        if res.returncode == 0 and "failed=0" in output:
            continue
        for j, case in enumerate(batch):
            res, output = refusals[1].get(f"valid:{i}:{j}", (res, output))
            if res.returncode != 0:
                failures.append(f"{case.id} (with {case.extra}) failed: {output[-1500:]}")
    assert not failures, "\n".join(failures)


def test_no_refused_inventory_changed_the_host(refusals):
    before, _, after = refusals
    assert after == before, "/etc, the database or a service's start changed during the refused and check-mode runs"


def test_table_counts(refusals, generated):
    """The figures the README quotes: written to logs/rules-table.json and checked (no crash, no late refusal)."""
    results = refusals[1]
    runs = {key: refused_in_preflight(*results[key]) for key in results if not key.startswith("valid")}
    counts = {
        "rules": rule_cases.count_rules(),
        "rule_files": len(rule_cases.all_rule_files()),
        "generated_bad_cases": sum(len(b) for kind in ("own", "across") for b in generated[kind]),
        "generated_bad_runs": sum(len(generated[kind]) for kind in ("own", "across")),
        "hand_written_cases": len(CASES),
        "refused_in_preflight_runs": sum(ok for ok, _ in runs.values()),
        "valid_bound_cases": sum(len(b) for b in generated["valid"]),
        "valid_bound_runs_passed": sum(results[f"valid:{i}"][0].returncode == 0 for i in range(len(generated["valid"]))),
        "crashes": sum(why.startswith("crashed") for _, why in runs.values()),
        "late_refusals": sum(why.startswith("refused late") for _, why in runs.values()),
    }
    os.makedirs(os.path.join(REPO, "logs"), exist_ok=True)
    with open(os.path.join(REPO, "logs", "rules-table.json"), "w") as fh:
        json.dump(counts, fh, indent=2)
    print("rules table:", json.dumps(counts))
    assert counts["crashes"] == 0 and counts["late_refusals"] == 0, counts
    assert counts["refused_in_preflight_runs"] == len(runs), counts


@pytest.fixture(scope="module")
def second_store(tmp_path_factory):
    """Another backup store whose own variable is wrong; the first host's are all good."""
    yield from fresh_target(tmp_path_factory, NAME + "-2", ["backup_store"],
                            {"fstab_noatime_mount_points": [], "backup_store_dir": "srv"})


def test_one_bad_host_stops_every_host(refusals, target, second_store):
    """The pre-flight is any_errors_fatal: the good host gets no change either, not half a site."""
    both = yaml.safe_load(target.inventory.read_text())
    other = yaml.safe_load(second_store.inventory.read_text())
    both["all"]["hosts"].update(other["all"]["hosts"])
    both["all"]["children"]["backup_store"]["hosts"][second_store.name] = None
    inventory = second_store.directory / "both.yml"
    inventory.write_text(yaml.safe_dump(both))
    before = {h.name: h.etc_checksums() for h in (target, second_store)}
    res, output = target.play("../site.yml", None, "-i", str(inventory))
    assert res.returncode != 0, f"a bad host was accepted:\n{res.stdout[-3000:]}"
    assert 'backup_store_dir must be an absolute path without spaces or quotes, got "srv"' in output, res.stdout[-3000:]
    for host in (target, second_store):
        assert f"{host.name} : ok=" in output, f"{host.name} missing from the recap:\n{res.stdout[-2000:]}"
        recap = output.split(f"{host.name} : ok=")[-1].split("ignored=")[0]
        assert "changed=0" in recap, f"{host.name} changed: {recap}"
        assert host.etc_checksums() == before[host.name], f"/etc on {host.name} changed"


# What ansible's distribution facts read: /etc/os-release and /etc/debian_version.
FAKE_RELEASES = {
    "debian-11": ('PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nNAME="Debian GNU/Linux"\nVERSION_ID="11"\n'
                  'VERSION="11 (bullseye)"\nVERSION_CODENAME=bullseye\nID=debian\n', "11.11\n"),
    "ubuntu-24.04": ('PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\n'
                     'VERSION="24.04.1 LTS (Noble Numbat)"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\n',
                     "trixie/sid\n"),
    # Debian 13's facts on this Debian 12 host: what the pre-flight decides from the release alone.
    "debian-13": ('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\n'
                  'VERSION="13 (trixie)"\nVERSION_CODENAME=trixie\nID=debian\n', "13.2\n"),
}


def with_release(target, release, extra_vars):
    """site.yml against the host while it says it is another release (its own files put back afterwards)."""
    os_release, debian_version = FAKE_RELEASES[release]
    target.ssh("cp --preserve=all /usr/lib/os-release /root/os-release.real && "
               "cp --preserve=all /etc/debian_version /root/debian_version.real")
    try:
        target.ssh(f"printf %s {json.dumps(os_release)} > /usr/lib/os-release && "
                   f"printf %s {json.dumps(debian_version)} > /etc/debian_version")
        return target.play("../site.yml", extra_vars, vars_file=f"release-{release}.yml")
    finally:
        target.ssh("cp --preserve=all /root/os-release.real /usr/lib/os-release && "
                   "cp --preserve=all /root/debian_version.real /etc/debian_version && "
                   "rm /root/os-release.real /root/debian_version.real")


# What ansible's facts make of the fake files (distribution and distribution_version), as the refusal names it.
@pytest.mark.parametrize("release,found", [("debian-11", "Debian 11"), ("ubuntu-24.04", "Ubuntu 24.04.1")])
def test_another_system_is_refused_naming_the_supported_releases(refusals, target, release, found):
    res, output = with_release(target, release, GOOD)
    ok, why = refused_in_preflight(res, output)
    assert ok, f"{release}: {why}:\n{res.stdout[-3000:]}"
    assert f"the host runs {found}; Bedrock supports Debian 12 (bookworm), Debian 13 (trixie)." in output, \
        res.stdout[-3000:]


def test_wal_e_s3_store_is_refused_on_debian_13(refusals, target):
    """boto 2 does not import on Python 3.13: where WAL-E is chosen (pgBackRest is Debian 13's default archiver),
    the pre-flight says so and names the file store."""
    res, output = with_release(target, "debian-13", {
        **GOOD, "postgresql_version": 17, "backups_archiver": "wal-e", "wale_store_kind": "s3",
        "wale_s3_prefix": "s3://bucket/db",
        "wale_aws_access_key_id": "key", "wale_aws_secret_access_key": "secret"})
    ok, why = refused_in_preflight(res, output)
    assert ok, f"{why}:\n{res.stdout[-3000:]}"
    assert "wale_store_kind s3 needs Debian 12: on Debian 13 (trixie, Python 3.13) WAL-E's S3 client, boto 2, " \
           "does not import. Use wale_store_kind file" in output, res.stdout[-3000:]
