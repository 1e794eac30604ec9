"""Bedrock's logical backups: pg_dump of every configured database, atomic, checksummed, pruned, pushed off-host.

Run by cron as postgres. Settings come from /etc/bedrock/backups.json (written by the backups role).

  bedrock-pg-dump             dump, prune, push; exit 0 on success, 1 on any failure, 75 if another run holds
                              the lock (flock -n semantics: it exits at once and says so)
  bedrock-pg-dump --check     monitoring check (Nagios exit codes) on the status file's last success

Each dump is taken in the snapshot that also counted every table's rows, so the restore drill can compare
the restored counts with the ones recorded here (<dump>.json). Files: <db>-<UTC>.dump (or a directory for
-Fd), <dump>.sha256 (sha256sum -c format, relative to the backup directory) and <dump>.json.
"""

import argparse
import datetime
import glob
import json
import os
import shutil
import subprocess
import time

from bedrock_tools.common import (BACKUPS_CONFIG, EX_LOCKED, dump_name, dumps_of, fsync_path, iso, log_line,
                                  sha256_lines, try_lock, utc_stamp, version_argument, write_atomic)


def log(cfg, message):
    log_line("bedrock-pg-dump", message, cfg["log_file"])


def dump_files(path):
    """The regular files of a dump (the file itself, or every file of a -Fd directory), sorted."""
    if os.path.isdir(path):
        return sorted(os.path.join(path, name) for name in os.listdir(path))
    return [path]


def count_rows_and_dump(cfg, database, target):
    """Counts every table's rows and runs pg_dump in one exported snapshot; returns {table: rows}."""
    import psycopg2  # Debian's python3-psycopg2, installed with PostgreSQL

    conn = psycopg2.connect(dbname=database, port=cfg["port"], host=cfg["socket_dir"],
                            application_name="bedrock-pg-dump")
    try:
        cur = conn.cursor()
        cur.execute("SET statement_timeout = 0")
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cur.execute("SELECT pg_export_snapshot()")
        snapshot = cur.fetchone()[0]
        cur.execute("""SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                         AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1""")
        counts = {}
        for (table,) in cur.fetchall():
            cur.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cur.fetchone()[0]
        cmd = ["pg_dump", "--port", str(cfg["port"]), "--host", cfg["socket_dir"], "--snapshot", snapshot,
               "--file", target, "--format", cfg["format"]]
        if cfg["format"] == "directory":
            cmd += ["--jobs", str(cfg["jobs"])]
        else:
            cmd += ["--compress", str(cfg["compress"])]
        res = subprocess.run(cmd + [database], capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"pg_dump {database} exited {res.returncode}: {res.stderr.strip()}")
        conn.rollback()
        return counts
    finally:
        conn.close()


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def backup_one(cfg, database):
    directory = cfg["directory"]
    name = dump_name(database, utc_stamp())
    final = os.path.join(directory, name)
    partial = os.path.join(directory, f".{name}.partial")
    started = time.time()
    try:
        counts = count_rows_and_dump(cfg, database, partial)
        files = dump_files(partial)
        for path in files:
            fsync_path(path)
            os.chmod(path, 0o600)
        if os.path.isdir(partial):
            os.chmod(partial, 0o700)
        sums = sha256_lines(name, partial, files)
        size = sum(os.path.getsize(path) for path in files)
        meta = {"database": database, "file": name, "format": cfg["format"], "size_bytes": size,
                "started": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(),
                "duration_seconds": round(time.time() - started, 3), "row_counts": counts}
        # The sidecars first, the dump last: a dump without its .sha256 is never taken for a complete one.
        write_atomic(final + ".sha256", sums)
        write_atomic(final + ".json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
        os.rename(partial, final)
        fsync_path(directory)
        return meta
    except BaseException:
        for path in (partial, final + ".sha256", final + ".json", final + ".sha256.partial",
                     final + ".json.partial"):
            remove(path)
        raise


def existing_dumps(cfg, database):
    """Complete dumps of a database, newest first."""
    return [path for path in dumps_of(cfg["directory"], database) if os.path.exists(path + ".sha256")]


def prune(cfg, database):
    """Keeps the newest retain_count dumps and drops those older than retain_days; never the newest one."""
    dumps = existing_dumps(cfg, database)
    cutoff = time.time() - cfg["retain_days"] * 86400
    for index, path in enumerate(dumps):
        if index == 0:
            continue
        if index >= cfg["retain_count"] or os.path.getmtime(path) < cutoff:
            for item in (path + ".sha256", path + ".json", path):
                remove(item)
            log(cfg, f"pruned {os.path.basename(path)}")
    # Leftovers of a run that died hard (kill -9, power loss) before its own cleanup.
    for path in glob.glob(os.path.join(cfg["directory"], f".{glob.escape(database)}-*.partial")):
        if os.path.getmtime(path) < time.time() - 86400:
            remove(path)


def push(cfg, meta):
    """rsync the dump and its sidecars to the backup store, then let the store check the checksums itself."""
    store = cfg.get("store")
    if not store:
        return
    ssh = ["ssh", "-i", store["identity_file"], "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={store['known_hosts']}",
           "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=20", "-p", str(store["port"])]
    name = meta["file"]
    paths = [os.path.join(cfg["directory"], n) for n in (name, name + ".sha256", name + ".json")]
    target = f"{store['user']}@{store['address']}:"
    res = subprocess.run(["rsync", "--recursive", "--times", "--chmod=D0700,F0600", "--timeout=60",
                          "-e", " ".join(ssh), *paths, target], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"rsync to {store['address']} exited {res.returncode}: {res.stderr.strip()}")
    res = subprocess.run(ssh + [f"{store['user']}@{store['address']}", f"verify {name}.sha256"],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"the backup store could not verify {name}: {(res.stdout + res.stderr).strip()}")
    log(cfg, f"pushed {name} to {store['address']}; the store verified its checksums")


def write_status(cfg, status):
    write_atomic(cfg["status_file"], json.dumps(status, indent=2, sort_keys=True) + "\n", 0o640)


def read_status(cfg):
    try:
        with open(cfg["status_file"]) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def run(cfg):
    os.umask(0o077)
    lock = try_lock(cfg["lock_file"])
    if lock is None:
        log(cfg, f"another run holds {cfg['lock_file']}; exiting without a backup")
        return EX_LOCKED
    started = time.time()
    status = read_status(cfg)
    status.update({"last_run": started, "last_run_iso": iso(started)})
    results, failed = {}, []
    for database in cfg["databases"]:
        try:
            meta = backup_one(cfg, database)
            log(cfg, f"dumped {database} to {meta['file']} ({meta['size_bytes']} bytes, "
                     f"{meta['duration_seconds']} s)")
            push(cfg, meta)
            prune(cfg, database)
            results[database] = {k: meta[k] for k in ("file", "size_bytes", "duration_seconds")}
        except Exception as exc:  # every failure is logged and counted; the other databases still run
            failed.append(database)
            log(cfg, f"FAILED {database}: {exc}")
    status["last_result"] = "failed: " + ", ".join(failed) if failed else "ok"
    status["last_run_seconds"] = round(time.time() - started, 3)
    if not failed:
        status.update({"last_success": started, "last_success_iso": iso(started), "databases": results})
    write_status(cfg, status)
    return 1 if failed else 0


def check(cfg, warn_hours, crit_hours):
    status = read_status(cfg)
    if "last_success" not in status:
        print(f"CRITICAL - no successful backup recorded in {cfg['status_file']}")
        return 2
    age_hours = (time.time() - status["last_success"]) / 3600
    text = (f"last successful backup {status['last_success_iso']} ({age_hours:.1f} h ago); last run: "
            f"{status.get('last_result', 'unknown')} | backup_age_hours={age_hours:.2f};{warn_hours};{crit_hours}")
    if age_hours > crit_hours:
        print("CRITICAL - " + text)
        return 2
    if age_hours > warn_hours or status.get("last_result") != "ok":
        print("WARNING - " + text)
        return 1
    print("OK - " + text)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=BACKUPS_CONFIG)
    parser.add_argument("--check", action="store_true", help="report the age of the last successful backup")
    parser.add_argument("--warn-hours", type=float)
    parser.add_argument("--crit-hours", type=float)
    version_argument(parser)
    args = parser.parse_args(argv)
    with open(args.config) as fh:
        cfg = json.load(fh)
    if args.check:
        warn = args.warn_hours if args.warn_hours is not None else cfg["max_age_hours"]
        crit = args.crit_hours if args.crit_hours is not None else 2 * warn
        return check(cfg, warn, crit)
    return run(cfg)
