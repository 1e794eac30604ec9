"""site.yml end to end with the development environment's variables: every layer's settings live on the
database host and the backup store, then backups taken and the restore drill run, its report printed."""

import json
import os
import re
import time

import pytest


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


def on_db(host):
    return "db" in host.ansible.get_variables().get("group_names", [])


def on_store(host):
    return "backup_store" in host.ansible.get_variables().get("group_names", [])


def psql(host, sql, db="postgres"):
    return host.check_output("runuser -u postgres -- psql -X -At -d %s -c %s", db, sql)


def test_namespaced_sysctls_are_live(host):
    dropin = host.file("/etc/sysctl.d/60-bedrock.conf").content_string
    for key in ("net.core.somaxconn", "net.ipv4.tcp_syncookies", "net.ipv4.conf.all.rp_filter"):
        want = next(line.split("=", 1)[1].strip() for line in dropin.splitlines() if line.startswith(key + " "))
        assert host.check_output("sysctl -n %s", key).split() == want.split(), key
    assert not [line for line in dropin.splitlines() if "tcp_tw_recycle" in line and not line.startswith("#")]


def test_kernel_settings_swap_and_noatime_are_live_on_a_vm(host, hostvars):
    if hostvars.get("testhost_kind") != "vm":
        pytest.skip("a container shares the runner's kernel: vm.*/fs.* sysctls and swap are the VM target's")
    dropin = host.file("/etc/sysctl.d/60-bedrock.conf").content_string
    for key in ("vm.swappiness", "vm.vfs_cache_pressure", "fs.file-max"):
        want = next(line.split("=", 1)[1].strip() for line in dropin.splitlines() if line.startswith(key + " "))
        assert host.check_output("sysctl -n %s", key) == want, key
    swap_kib = int(host.check_output("swapon --show=SIZE --bytes --noheadings /swapfile")) // 1024
    # The kernel keeps the first page for the swap header.
    assert hostvars["swap_size_mb"] * 1024 - 4 <= swap_kib <= hostvars["swap_size_mb"] * 1024
    assert "noatime" in host.check_output("findmnt -n -o OPTIONS /").split(",")


def test_tmp_is_a_sized_tmpfs(host):
    tmp = host.check_output("findmnt -n -o FSTYPE,OPTIONS /tmp")
    assert tmp.startswith("tmpfs") and "nosuid" in tmp and "nodev" in tmp and "size=" in tmp


def test_services_have_their_file_limits(host, hostvars):
    if not on_db(host):
        pytest.skip("database host only")
    pgbouncer = (hostvars["pgbouncer_max_client_conn"] + hostvars["postgresql_max_connections"] + 100)
    assert host.check_output("systemctl show -p LimitNOFILE --value pgbouncer") == str(pgbouncer)


def test_postgresql_runs_with_the_environment_settings(host, hostvars, cluster):
    if not on_db(host):
        pytest.skip("database host only")
    assert psql(host, "SHOW server_version_num")[:2] == str(cluster["major"])
    assert host.service(cluster["service"]).is_enabled
    assert psql(host, "SHOW max_connections") == str(hostvars["postgresql_max_connections"])
    assert psql(host, "SHOW log_min_duration_statement") == "0"
    assert psql(host, "SHOW password_encryption") == "scram-sha-256"
    assert psql(host, "SHOW archive_mode") == "on"
    hba = host.file(cluster["conf_dir"] + "/pg_hba.conf").content_string
    assert "trust" not in [line.split()[-1] for line in hba.splitlines() if line.strip() and not line.startswith("#")]


def test_the_app_logs_in_through_pgbouncer_with_the_vault_secret(host, hostvars):
    if not on_db(host):
        pytest.skip("database host only")
    res = host.run("PGPASSWORD=%s psql -X -At -h 127.0.0.1 -p 6432 -U app -d app -c 'SELECT current_user'",
                   hostvars["vault_postgresql_app_password"])
    assert res.rc == 0 and res.stdout.strip() == "app", res.stderr
    bad = host.run("PGPASSWORD=wrong psql -X -At -h 127.0.0.1 -p 6432 -U app -d app -c 'SELECT 1'")
    assert bad.rc != 0


def archiver(host):
    """What archives WAL on the database host (backups_archiver: pgBackRest on Debian 13, WAL-E on 12)."""
    return json.loads(host.file("/etc/bedrock/backups.json").content_string)["drill"]["archiver"]


# The archiver's cron file on the database host and what it runs there (pgBackRest: its check; its backups run on
# the store, its repository host), and a base backup now with where it runs.
ARCHIVER_JOBS = {
    "wal-e": ("bedrock-wal-e", "bedrock-wal-e-backup",
              ("db", "postgres", "flock -n /run/lock/bedrock-wal-e-backup.lock /usr/local/bin/bedrock-wal-e-backup")),
    "pgbackrest": ("bedrock-pgbackrest", "bedrock-pgbackrest-check",
                   ("store", "bedrock-pgbackrest", "/usr/bin/pgbackrest --stanza=main backup --type=incr"))}


def base_backup(host):
    where, user, command = ARCHIVER_JOBS[archiver(host)][2]
    target = host if where == "db" else host.get_host("ansible://store", ansible_inventory=host.backend.ansible_inventory)
    res = target.run("cd /tmp && runuser -u %s -- sh -c %s", user, command)
    assert res.rc == 0, res.stderr


def test_backups_are_scheduled(host, cluster):
    if not on_db(host):
        pytest.skip("database host only")
    assert archiver(host) == {15: "wal-e", 17: "pgbackrest"}[cluster["major"]]
    cron_file, scheduled, _ = ARCHIVER_JOBS[archiver(host)]
    jobs = {}
    for name in ("bedrock-pgbadger", cron_file, "bedrock-backups"):
        cron = host.file(f"/etc/cron.d/{name}")
        assert cron.user == "root" and cron.mode == 0o644, name
        for line in cron.content_string.splitlines():
            if line.strip() and not line.startswith("#"):
                fields = line.split(None, 6)
                jobs[fields[6]] = fields[5]
    assert set(jobs.values()) == {"postgres"}, jobs
    for job in ("bedrock-pg-dump", scheduled, "bedrock-restore-drill", "bedrock-pgbadger", "bedrock-heartbeat"):
        assert any(job in command for command in jobs), job
    assert "bedrock" not in host.run("crontab -u postgres -l").stdout, "a job is scheduled twice"
    if archiver(host) == "pgbackrest":
        store = host.get_host("ansible://store", ansible_inventory=host.backend.ansible_inventory)
        cron = store.file("/etc/cron.d/bedrock-pgbackrest-main").content_string
        assert "bedrock-pgbackrest /usr/bin/pgbackrest --stanza=main backup --type=full" in cron


def test_cron_runs_the_heartbeat_as_postgres(host):
    """Cron reads the /etc/cron.d files: a heartbeat newer than both the file and this boot."""
    if not on_db(host):
        pytest.skip("database host only")
    since = max(host.file("/etc/cron.d/bedrock-backups").mtime.timestamp(),
                float(host.check_output("date -d \"$(uptime -s)\" +%s")))
    deadline = time.time() + 75
    while True:
        beat = host.run("runuser -u postgres -- psql -X -At -d bedrock -c 'SELECT extract(epoch FROM beat) FROM heartbeat'")
        if beat.rc == 0 and beat.stdout.strip() and float(beat.stdout) > since:
            break
        assert time.time() < deadline, f"no heartbeat from cron since {since}: {beat.stdout}{beat.stderr}"
        time.sleep(5)


def test_the_backup_store_holds_only_its_account(host):
    if not on_store(host):
        pytest.skip("backup store only")
    store = host.file("/srv/bedrock-backups")
    assert store.is_directory and store.user == "bedrock-backup" and store.mode == 0o700
    keys = host.file("/srv/bedrock-backups/.ssh/authorized_keys").content_string
    assert keys.startswith('restrict,command="/usr/local/bin/bedrock-backup-store /srv/bedrock-backups/db"')


TOOLS_SOURCE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "host_tools", "files", "bedrock-tools")


def test_the_host_tools_are_one_wheel_in_one_virtualenv(host):
    """Every console script of bedrock-tools is a link into /opt/bedrock-tools, where the one installed
    bedrock-tools is the repository's version, and runs as an unprivileged user too."""
    if not (on_db(host) or on_store(host)):
        pytest.skip("the database host and the backup store run Bedrock's commands")
    with open(os.path.join(TOOLS_SOURCE, "src", "bedrock_tools", "__init__.py")) as fh:
        version = re.search(r'__version__ = "([^"]+)"', fh.read()).group(1)
    with open(os.path.join(TOOLS_SOURCE, "pyproject.toml")) as fh:
        commands = re.findall(r'(?m)^(bedrock-[a-z0-9-]+) = "bedrock_tools', fh.read())
    assert len(commands) == 12
    for command in commands:
        link = host.file(f"/usr/local/bin/{command}")
        assert link.is_symlink and link.linked_to == f"/opt/bedrock-tools/bin/{command}", command
    installed = json.loads(host.check_output("/opt/bedrock-tools/bin/pip list --format=json --disable-pip-version-check"))
    assert [p["version"] for p in installed if p["name"] == "bedrock-tools"] == [version]
    # Not only root: postgres runs them from cron (on the store, an account without a login shell).
    user = "postgres" if on_db(host) else "nobody"
    for command in ("bedrock-pg-dump", "bedrock-pg-report", "bedrock-heartbeat"):
        out = host.check_output(f"runuser -u {user} -- /usr/local/bin/{command} --version")
        assert f"(bedrock-tools {version})" in out, command


def test_backups_then_the_restore_drill_passes(host):
    if not on_db(host):
        pytest.skip("database host only")
    psql(host, "CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text)", db="app")
    psql(host, "INSERT INTO notes (body) SELECT md5(g::text) FROM generate_series(1, 1000) g", db="app")
    res = host.run("cd /tmp && runuser -u postgres -- /usr/local/bin/bedrock-pg-dump")
    assert res.rc == 0, res.stderr
    base_backup(host)
    host.check_output("cd /tmp && runuser -u postgres -- /usr/local/bin/bedrock-heartbeat")
    psql(host, "SELECT pg_switch_wal() FROM (SELECT txid_current()) t")
    drill = host.run("cd /tmp && runuser -u postgres -- /usr/local/bin/bedrock-restore-drill --json")
    report = json.loads(drill.stdout)
    print("restore drill report:", json.dumps(report, indent=2))
    assert drill.rc == 0 and report["result"] == "pass", report["breaches"]
    assert report["dumps"][0]["ok"] and report["dumps"][0]["rows"] >= 1000
    assert report["pitr"]["ok"] and report["pitr"]["rpo_seconds"] <= 900
