"""The RPO at the worst moment, for the archiver the scenario runs (WAL-E in backups, pgBackRest in
backups-pgbackrest): a kill -9 of the postmaster in the first minutes after PostgreSQL starts (a restart, or the
boot). The host counts as lost (the data directory gone) and the drill restores from the archive alone. (A kill -9
in steady state is the easier case: this one covers it.)"""

import json
import time

from conftest import background, ensure_a_base_backup, wait_for

testinfra_hosts = ["ansible://db"]

# The scenarios' archive_timeout (hosts.yml): the RPO bound is this plus 10 s for the push.
ARCHIVE_TIMEOUT = 15
# Writes after the start, then the loss. Without Bedrock's unit drop-in nothing was archived for checkpoint_timeout
# (300 s) after a start: every one of these seconds would be lost, against a bound of ARCHIVE_TIMEOUT + 10 s.
WRITE_SECONDS = 60


def lose_the_host_and_restore(host, as_postgres, cluster):
    """kill -9 of the postmaster (the data directory counts as lost), then the drill restores a scratch cluster
    from the archive alone: the moment of the loss and the drill's point-in-time restore. The cluster starts again
    afterwards for the tests that follow."""
    pid = host.check_output(f"head -1 {cluster['data_dir']}/postmaster.pid")
    killed_at = float(host.check_output("date +%s.%N"))
    host.check_output("kill -9 %s", pid)
    try:
        wait_for(lambda: host.run("pgrep -u postgres -x postgres").rc != 0, 30, "the server processes to exit")
        drill = as_postgres("/usr/local/bin/bedrock-restore-drill --json --skip-dump")
        report = json.loads(drill.stdout)
    finally:
        host.run(f"rm -f {cluster['data_dir']}/postmaster.pid")
        host.check_output("systemctl reset-failed %s; systemctl restart %s", cluster["service"], cluster["service"])
    assert report["pitr"]["ok"], report["breaches"]
    return killed_at, report["pitr"]


# The worst moment for the RPO: the first minutes after PostgreSQL starts. Before Bedrock's unit drop-in
# (roles/postgresql/templates/start.conf.j2) nothing was archived until the first checkpoint, checkpoint_timeout
# (5 min) after the start, so a host lost 3 minutes after a restart lost all 3 minutes. This file runs first: after
# the scenario's reboot it finds PostgreSQL started by the boot itself and tests that start while the loss can still
# fall inside its first checkpoint_timeout.
def test_kill_9_in_the_first_minutes_after_postgresql_starts_loses_at_most_archive_timeout(host, psql, as_postgres,
                                                                                            cluster, archiver):
    ensure_a_base_backup(host, as_postgres, archiver)
    # When PID 1 started: a container's /proc/uptime (and so `uptime -s`) is the runner's kernel's.
    booted = float(host.check_output("echo $(( $(date +%s) - $(ps -o etimes= -p 1) ))"))
    started = float(psql("SELECT extract(epoch FROM pg_postmaster_start_time())"))
    checkpoint_timeout = int(psql("SELECT setting FROM pg_settings WHERE name = 'checkpoint_timeout'"))
    # The boot's own start is tested when the loss still falls inside its first checkpoint_timeout (the verify
    # after the scenario's reboot begins a minute or two after it); otherwise a restart of our own.
    since_start = float(host.check_output("date +%s")) - started
    if started - booted > 60 or since_start > checkpoint_timeout - WRITE_SECONDS - 40:
        host.check_output("systemctl restart %s", cluster["service"])
        started = float(psql("SELECT extract(epoch FROM pg_postmaster_start_time())"))
        how = "a restart"
    else:
        how = "the boot"
    background(host, f"/usr/local/bin/bedrock-heartbeat {WRITE_SECONDS + 20}")
    time.sleep(WRITE_SECONDS)
    killed_at, pitr = lose_the_host_and_restore(host, as_postgres, cluster)
    # Still inside the first checkpoint_timeout after the start: the window the drop-in closes.
    assert killed_at - started < checkpoint_timeout
    lost = killed_at - pitr["newest_heartbeat_restored_epoch"]
    print(f"{how}, then kill -9 {killed_at - started:.0f} s after it: work lost {lost:.1f} s "
          f"(archive_timeout {ARCHIVE_TIMEOUT} s), RTO {pitr['rto_seconds']} s")
    assert lost <= ARCHIVE_TIMEOUT + 10
