"""Rebuilds this database host's cluster from the archive; playbooks/restore.yml runs it as postgres, step by step.

  plan      reads the archive and this host and changes nothing: which base backup, what the store holds (oldest
            and newest base backup, the newest WAL and when it arrived), whether the target (a time, or a restore
            point bedrock-restore-point made) lies inside that, whether a primary still archives into the store,
            whether the local cluster holds data, and the free disk. A refusal: exit 1, "refused" in the JSON.
  restore   the chosen base backup fetched into a NEW folder (--into, beside the data directory), recovered through
            the archive to its end or to the target, promoted onto a new timeline, then stopped cleanly. It archives
            nothing itself: archive_mode is on with an archive_command that fails, so the new timeline's history
            file and every segment since wait as .ready for the cluster's own archiver, which restore.yml turns on
            after the swap. Writes the report (fetch / replay / promotion, newest transaction, window lost).
  finish    adds the moment the application's first query succeeded (RTO) to a report and prints its summary.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

from bedrock_tools.archive import Archive, recovery_settings, run
from bedrock_tools.common import BACKUPS_CONFIG, iso, run_psql, utc_stamp, version_argument, write_atomic

# bedrock-restore-point appends the UTC time it made the point: the restore chooses the base backup before it.
POINT_NAME = re.compile(r".+-(\d{8}T\d{6}Z)$")
# Room for the restored cluster: its expanded size, plus the WAL replay keeps and the first checkpoints.
SPACE_FACTOR = 1.2
SPACE_MARGIN_BYTES = 256 * 1024 * 1024


def parse_time(text):
    """An ISO 8601 time with its zone (2026-12-01 14:02:00+00 or ...T14:02:00Z) as an epoch."""
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"the target time must be ISO 8601 with its zone (2026-12-01 14:02:00+00), got {text!r}")
    if moment.tzinfo is None:
        raise ValueError(f"the target time must name its zone (2026-12-01 14:02:00+00), got {text!r}")
    return moment.timestamp()


def target_epoch(target_time=None, target_name=None):
    """The moment a target names (None for the end of the archive)."""
    if target_time:
        return parse_time(target_time)
    if target_name:
        found = POINT_NAME.fullmatch(target_name)
        if not found:
            raise ValueError(f"the restore point must be a name bedrock-restore-point made (WORD-YYYYMMDDTHHMMSSZ), "
                             f"got {target_name!r}")
        return datetime.datetime.strptime(found.group(1), "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    return None


def store_plan(backups, newest_wal, moment):
    """(chosen base backup, what the store holds); raises ValueError naming the store's range when the moment lies
    outside it."""
    if not backups:
        raise ValueError("the store holds no base backup for this cluster: nothing to restore from")
    holds = {"base_backups": len(backups), "oldest_base_backup": backups[0]["name"],
             "oldest_base_backup_finished": iso(backups[0]["stop"]), "newest_base_backup": backups[-1]["name"],
             "newest_base_backup_finished": iso(backups[-1]["stop"]),
             "newest_wal": newest_wal[0] if newest_wal else None,
             "newest_wal_arrived": iso(newest_wal[1]) if newest_wal else None}
    span = (f"the store holds base backups from {holds['oldest_base_backup_finished']} "
            f"({holds['oldest_base_backup']}) and WAL up to "
            + (f"{holds['newest_wal']} (arrived {holds['newest_wal_arrived']})" if newest_wal else "an unknown time"))
    if moment is None:
        return backups[-1], holds
    if moment <= backups[0]["stop"]:
        raise ValueError(f"the target {iso(moment)} lies before the oldest base backup finished: {span}")
    if newest_wal and moment > newest_wal[1]:
        raise ValueError(f"the target {iso(moment)} lies after the newest WAL in the store: {span}")
    return [b for b in backups if b["stop"] < moment][-1], holds


def archiving_elsewhere(newest_wal, now, quiet_seconds, local_last_archived, fenced):
    """A refusal when a primary other than this host's own cluster may still archive into the store, else None."""
    if fenced:
        return None
    if newest_wal is None:
        return ("this store cannot tell when WAL last arrived (WAL-E on S3): make sure the old primary is stopped "
                "or cut off from the store, then confirm with restore_old_primary_fenced=true")
    age = now - newest_wal[1]
    if age >= quiet_seconds or (local_last_archived and local_last_archived >= newest_wal[0]):
        return None
    return (f"the store received {newest_wal[0]} {age:.0f} s ago: a primary still archives into it, and two primaries "
            f"archiving into one store corrupt its history. Stop the old primary or cut it off from the store, then "
            f"wait {quiet_seconds} s after its last WAL or confirm with restore_old_primary_fenced=true")


def local_cluster():
    """{running, last_archived_wal, user_tables: {database: count}} of the cluster on the default socket."""
    res = run_psql(["-c", "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"])
    if res.returncode != 0:
        return {"running": False, "last_archived_wal": None, "user_tables": {}}
    tables = {}
    databases = run_psql(["-c", "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate"])
    for database in databases.stdout.split():
        count = run_psql(["-c", "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', "
                                "'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"], database=database)
        if count.returncode == 0 and int(count.stdout.strip() or 0):
            tables[database] = int(count.stdout.strip())
    return {"running": True, "last_archived_wal": res.stdout.strip() or None, "user_tables": tables}


def plan(cfg, args, now=None):
    now = now or time.time()
    archive = Archive(cfg["drill"])
    report = {"host": socket.gethostname(), "archiver": archive.kind, "refused": None,
              "target": {"time": args.target_time, "name": args.target_name}}
    try:
        moment = target_epoch(args.target_time, args.target_name)
        if not archive.configured():
            raise ValueError(f"the archiver {archive.kind} is not configured on this host")
        newest_wal = archive.newest_wal()
        chosen, report["store"] = store_plan(archive.base_backups(), newest_wal, moment)
        report["base_backup"] = chosen
        local = local_cluster()
        report["local_cluster"] = local
        if local["user_tables"] and not args.keep_aside:
            held = ", ".join(f"{db}: {n} tables" for db, n in sorted(local["user_tables"].items()))
            raise ValueError(f"PostgreSQL on this host holds data ({held}); restore_keep_aside=true moves its data "
                             f"directory aside to a dated folder (never deleted)")
        elsewhere = archiving_elsewhere(newest_wal, now, args.quiet_seconds, local["last_archived_wal"],
                                        args.old_primary_fenced)
        if elsewhere:
            raise ValueError(elsewhere)
        parent = os.path.dirname(args.data_dir.rstrip("/"))
        free = shutil.disk_usage(parent).free
        spool = archive.spool_bytes()
        needed = int(chosen["bytes"] * SPACE_FACTOR + SPACE_MARGIN_BYTES + spool)
        report["disk"] = {"free_bytes": free, "needed_bytes": needed, "folder": parent}
        if free < needed:
            raise ValueError(f"{parent} has {free // 2**20} MiB free; the restored cluster needs {needed // 2**20} MiB "
                             f"(base backup {chosen['name']}, {chosen['bytes'] // 2**20} MiB expanded, x{SPACE_FACTOR} "
                             f"+ {SPACE_MARGIN_BYTES // 2**20} MiB"
                             + (f", + {spool // 2**20} MiB of WAL fetched ahead" if spool else "")
                             + ") beside what the host keeps")
    except (ValueError, RuntimeError) as exc:
        report["refused"] = str(exc)
    return report


def wait_for(data, log, until, timeout, check):
    """The moment check() holds; an error with the log's end when the server stopped (a target recovery cannot
    reach ends it) or the time ran out."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return time.monotonic()
        stopped = not os.path.exists(os.path.join(data, "postmaster.pid"))
        if stopped or time.monotonic() > deadline:
            text = open(log).read() if os.path.exists(log) else ""
            why = "recovery stopped before" if stopped else f"within {timeout} s no"
            raise RuntimeError(f"{why} {until}: " + text.strip()[-1200:])
        time.sleep(0.5)


def restore(cfg, args):
    drill = cfg["drill"]
    archive = Archive(drill)
    started = time.time()
    report = {"host": socket.gethostname(), "archiver": archive.kind, "started": iso(started), "started_epoch": started,
              "target": {"time": args.target_time, "name": args.target_name}, "restored_into": args.into, "ok": False}
    data, work = args.into, args.into + ".work"
    if os.path.exists(data) or os.path.exists(work):
        raise ValueError(f"{data} or {work} exists already: restore into a new folder")
    newest_wal = archive.newest_wal()
    chosen, report["store"] = store_plan(archive.base_backups(), newest_wal, target_epoch(args.target_time,
                                                                                          args.target_name))
    report["base_backup"] = chosen
    os.makedirs(data, mode=0o700)
    os.makedirs(work, mode=0o700)
    try:
        recover(archive, drill, args, report, data, work)
    except BaseException:
        # A half-restored folder is this run's own: removed, so the next run starts clean. Nothing else changed.
        shutil.rmtree(data, ignore_errors=True)
        raise
    finally:
        archive.stop_fetching_ahead(work)
        shutil.rmtree(work, ignore_errors=True)
    report["ok"] = True
    return report


def recover(archive, drill, args, report, data, work):
    """Fetch, replay, promote and stop, into report."""
    chosen = report["base_backup"]
    port = str(drill["port"])
    pg_ctl = f"{drill['postgresql_bin']}/pg_ctl"

    def psql(database, sql):
        res = subprocess.run(["psql", "-X", "-A", "-t", "-h", work, "-p", port, "-d", database, "-c", sql],
                             capture_output=True, text=True)
        return res.stdout.strip() if res.returncode == 0 else None

    t0 = time.monotonic()
    archive.fetch(data, chosen["name"])
    report["fetch_seconds"] = round(time.monotonic() - t0, 3)
    with open(os.path.join(data, "backup_label")) as fh:
        label = fh.read()
    start_lsn = re.search(r"START WAL LOCATION: (\S+)", label).group(1)
    os.makedirs(os.path.join(data, "pg_wal", "archive_status"), exist_ok=True)
    log = os.path.join(work, "postgresql.log")
    options = recovery_settings(work, data, port, work, archive.restore_command(data, work), held_archiving=True,
                                target_time=args.target_time, target_name=args.target_name,
                                title="bedrock-restore-host: the restore's own settings")
    try:
        t1 = time.monotonic()
        run([pg_ctl, "start", "-D", data, "-l", log, "-w", "-t", str(args.timeout), "-o", options])
        done = wait_for(data, log, "the end of the replay", args.timeout,
                        lambda: re.search(r"redo done at|archive recovery complete|recovery stopping",
                                          open(log).read()) is not None)
        promoted = wait_for(data, log, "the promotion", args.timeout,
                            lambda: psql("postgres", "SELECT pg_is_in_recovery()") == "f")
        report["replay_seconds"] = round(done - t1, 3)
        report["promotion_seconds"] = round(promoted - done, 3)
        text = open(log).read()
        last = re.findall(r"last completed transaction was at log time (.+)", text)
        report["newest_transaction"] = last[-1].strip() if last else None
        end_lsn = psql("postgres", "SELECT pg_current_wal_lsn()")
        report["timeline"] = int(psql("postgres", "SELECT timeline_id FROM pg_control_checkpoint()") or 0)
        report["wal_replayed_bytes"] = int(float(psql("postgres", f"SELECT pg_wal_lsn_diff('{end_lsn}', '{start_lsn}')")))
        beat = psql("bedrock", "SELECT extract(epoch FROM max(beat)) FROM heartbeat")
        report["newest_heartbeat"] = iso(float(beat)) if beat else None
        if report["newest_transaction"] and not (args.target_time or args.target_name):
            report["window_lost_seconds"] = round(report["started_epoch"] - parse_time(report["newest_transaction"]), 3)
        report["databases"] = (psql("postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database "
                                                "WHERE NOT datistemplate") or "").split(",")
    finally:
        subprocess.run([pg_ctl, "stop", "-D", data, "-m", "fast", "-w", "-t", "120"], capture_output=True)
    report["fetch_mb_per_second"] = round(chosen["bytes"] / 1e6 / max(report["fetch_seconds"], 1e-3), 2)
    report["replay_mb_per_second"] = round(report["wal_replayed_bytes"] / 1e6 / max(report["replay_seconds"], 1e-3), 2)


def finish(path):
    with open(path) as fh:
        report = json.load(fh)
    now = time.time()
    report["first_app_query"] = iso(now)
    report["rto_seconds"] = round(now - report["started_epoch"], 3)
    write_atomic(path, json.dumps(report, indent=2, sort_keys=True) + "\n", mode=0o640)
    return report


def summary(report):
    return "\n".join([
        f"restored {report['host']} from {report['archiver']} base backup {report['base_backup']['name']} to "
        + (f"the restore point {report['target']['name']}" if report["target"]["name"] else
           f"{report['target']['time']}" if report["target"]["time"] else "the end of the archive")
        + f", timeline {report['timeline']}",
        f"  newest transaction restored: {report['newest_transaction']} (newest heartbeat {report['newest_heartbeat']})"
        + (f"; window lost {report['window_lost_seconds']} s" if report.get("window_lost_seconds") is not None else ""),
        f"  fetch {report['fetch_seconds']} s ({report['fetch_mb_per_second']} MB/s), replay {report['replay_seconds']} s "
        f"({report['replay_mb_per_second']} MB/s of WAL), promotion {report['promotion_seconds']} s"
        + (f", first application query after {report['rto_seconds']} s (RTO)" if "rto_seconds" in report else ""),
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=BACKUPS_CONFIG)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("plan", "restore"):
        p = sub.add_parser(name)
        target = p.add_mutually_exclusive_group()
        target.add_argument("--target-time", help="recover to this time (ISO 8601 with its zone)")
        target.add_argument("--target-name", help="recover to this restore point (bedrock-restore-point)")
    p_plan = sub.choices["plan"]
    p_plan.add_argument("--data-dir", required=True, help="the cluster's data directory (free disk is checked beside it)")
    p_plan.add_argument("--keep-aside", action="store_true", help="the local cluster's data may be moved aside")
    p_plan.add_argument("--old-primary-fenced", action="store_true", help="the old primary cannot archive any more")
    p_plan.add_argument("--quiet-seconds", type=int, default=180,
                        help="WAL younger than this in the store means a primary still archives (default 180)")
    p_restore = sub.choices["restore"]
    p_restore.add_argument("--into", required=True, help="a new folder for the restored data directory")
    p_restore.add_argument("--report", help="where to write the JSON report (default: restore/restore-<UTC>.json in "
                                             "the backups' state folder)")
    p_restore.add_argument("--timeout", type=int, default=3600, help="seconds for the replay and for the promotion")
    p_finish = sub.add_parser("finish")
    p_finish.add_argument("report")
    version_argument(parser)
    args = parser.parse_args(argv)
    os.umask(0o077)
    if args.command == "finish":
        print(summary(finish(args.report)))
        return 0
    with open(args.config) as fh:
        cfg = json.load(fh)
    if args.command == "plan":
        report = plan(cfg, args)
        print(json.dumps(report, indent=2, sort_keys=True))
        return 1 if report["refused"] else 0
    args.report = args.report or os.path.join(os.path.dirname(cfg["drill"]["report_dir"].rstrip("/")), "restore",
                                              f"restore-{utc_stamp()}.json")
    try:
        report = restore(cfg, args)
    except Exception as exc:  # the playbook reads the reason from the JSON, whatever it was
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    report["report_file"] = args.report
    os.makedirs(os.path.dirname(args.report), exist_ok=True)
    write_atomic(args.report, json.dumps(report, indent=2, sort_keys=True) + "\n", mode=0o640)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
