"""Bad inventories, one table: each is refused by site.yml's pre-flight with a message that names the variable
and the rule, before anything on the host changes (/etc checksummed before and after). One container plays every
group (db, pgbouncer, backup_store) with a good development-like inventory; each case overrides it. The cases run
four at a time against the same host (a refused run changes nothing; if one did, /etc would differ afterwards)."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from conftest import DB_HOST_VARS, fresh_target

NAME = "pytest-site-bad-input"

# A good inventory: the database host's variables, its secret from the (here plain) vault variable.
GOOD = {
    **DB_HOST_VARS,
    "bedrock_environment": "development",
    "bedrock_required_secrets": ["vault_postgresql_app_password"],
    "vault_postgresql_app_password": "not-a-demo-secret",
    "postgresql_users": [{"name": "app", "password": "{{ vault_postgresql_app_password }}"}],
}

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
    ("service-nofile-above-nr-open", {"limits_systemd_services": [{"name": "cron", "nofile": 2_000_000_000}]},
     "limits_systemd_services: cron nofile 2000000000 is above fs.nr_open"),
    ("mount-point-missing", {"fstab_noatime_mount_points": ["/srv/nope"]}, "not mounted: /srv/nope"),
    ("tmp-size-malformed", {"fstab_tmp_size": "lots"}, 'fstab_tmp_size: "lots" is neither a size'),
    ("swap-size-not-int", {"swap_size_mb": "big"}, "swap_size_mb"),
    ("noatime-option-unknown", {"fstab_noatime_options": ["relatime"]}, "fstab_noatime_options"),
    # postgresql
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
     "pgbouncer_admin_users/pgbouncer_stats_users must also be in pgbouncer_auth_users"),
    # backups
    ("dump-retention-count-0", {"backups_retain_count": 0}, "backups_retain_count must be at least 1, got 0"),
    ("dump-retention-days-0", {"backups_retain_days": 0}, "backups_retain_days must be at least 1, got 0"),
    ("dump-dir-relative", {"backups_dir": "backups"}, 'backups_dir must be an absolute path, got "backups"'),
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
     'wale_file_dir must be an absolute path outside the data directory /var/lib/postgresql/15/main, got "wal"'),
    ("wal-file-store-in-data-dir", {"wale_file_dir": "/var/lib/postgresql/15/main/wal-e"},
     "wale_file_dir must be an absolute path outside the data directory"),
    ("store-dir-relative", {"backup_store_dir": "srv"}, 'backup_store_dir must be an absolute path, got "srv"'),
]


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    yield from fresh_target(tmp_path_factory, NAME, ["db", "pgbouncer", "backup_store"], GOOD)


@pytest.fixture(scope="module")
def refusals(target):
    before = target.etc_checksums()
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {case: pool.submit(target.play, "../site.yml", extra_vars, vars_file=f"{case}.yml")
                   for case, extra_vars, _ in CASES}
        results = {case: future.result() for case, future in futures.items()}
    return before, results, target.etc_checksums()


@pytest.mark.parametrize("case,extra_vars,message", CASES, ids=[c[0] for c in CASES])
def test_bad_inventory_is_refused(refusals, case, extra_vars, message):
    res, output = refusals[1][case]
    assert res.returncode != 0, f"{case} was accepted:\n{res.stdout[-3000:]}"
    assert message in output, f"{case}: expected {message!r} in:\n{res.stdout[-3000:]}"
    assert "changed=0" in output


def test_no_refused_inventory_changed_the_host(refusals):
    before, _, after = refusals
    assert after == before, "/etc changed during the refused runs"


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
    assert 'backup_store_dir must be an absolute path, got "srv"' in output, res.stdout[-3000:]
    for host in (target, second_store):
        assert f"{host.name} : ok=" in output, f"{host.name} missing from the recap:\n{res.stdout[-2000:]}"
        recap = output.split(f"{host.name} : ok=")[-1].split("ignored=")[0]
        assert "changed=0" in recap, f"{host.name} changed: {recap}"
        assert host.etc_checksums() == before[host.name], f"/etc on {host.name} changed"
