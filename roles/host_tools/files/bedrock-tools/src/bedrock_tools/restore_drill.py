"""Bedrock's restore drill: proves the backups restore, and measures RPO and RTO. Run as postgres.

  a) the newest pg_dump of every configured database: checksums, pg_restore into a scratch database, and every
     table's row count compared with the count recorded in the dump's snapshot;
  b) point-in-time recovery from the archiver (WAL-E or pgBackRest): the newest base backup into a scratch cluster on
     a scratch port, archive recovery through the archiver (archive_mode off: it never writes to the store), promote,
     then read the heartbeat the primary writes every minute. RPO = drill start - newest heartbeat restored;
     RTO = wall time from the fetch to a promoted cluster that answers queries;
  c) a report (JSON in the report folder, drill-<UTC>.json and latest.json) and a short summary; exit 1 on any
     failure or budget breach.

Scratch databases, clusters and files are removed afterwards; the primary is only read.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time

from bedrock_tools.archive import Archive, recovery_settings
from bedrock_tools.common import (BACKUPS_CONFIG, EX_LOCKED, count_rows, iso, log_line, newest_complete_dump,
                                  row_count_mismatches, try_lock, utc_stamp, verify_sha256_file, version_argument)

LOCK_FILE = "/run/lock/bedrock-restore-drill.lock"


def now():
    return time.time()


class Drill:
    def __init__(self, cfg, quiet):
        self.cfg = cfg
        self.drill = cfg["drill"]
        self.quiet = quiet
        self.bin = self.drill["postgresql_bin"]
        self.archive = Archive(self.drill)
        self.started = now()
        self.report = {"host": socket.gethostname(), "started": iso(self.started), "budgets": {
            "max_backup_age_hours": self.drill["max_backup_age_hours"],
            "rpo_seconds": self.drill["rpo_budget_seconds"], "rto_seconds": self.drill["rto_budget_seconds"]},
            "dumps": [], "pitr": None, "breaches": []}

    def log(self, message):
        log_line("bedrock-restore-drill", message, self.drill["log_file"], echo=not self.quiet)

    def breach(self, message):
        self.report["breaches"].append(message)
        self.log("BREACH: " + message)

    def run(self, cmd, **kw):
        res = subprocess.run(cmd, capture_output=True, text=True, **kw)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])}... exited {res.returncode}: {(res.stderr or res.stdout).strip()[-800:]}")
        return res.stdout

    def psql(self, database, sql, host=None, port=None):
        return self.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", host or self.cfg["socket_dir"],
                         "-p", str(port or self.cfg["port"]), "-d", database, "-c", sql]).strip()

    # ------------------------------------------------------------------ a) pg_dump
    def drill_dump(self, database):
        entry = {"database": database, "ok": False}
        self.report["dumps"].append(entry)
        path = newest_complete_dump(self.cfg["directory"], database)
        if path is None:
            self.breach(f"no complete pg_dump of {database} in {self.cfg['directory']}")
            return
        with open(path + ".json") as fh:
            meta = json.load(fh)
        age_hours = (now() - os.path.getmtime(path)) / 3600
        entry.update({"file": os.path.basename(path), "size_bytes": meta["size_bytes"],
                      "dumped": meta["started"], "age_hours": round(age_hours, 2)})
        scratch = f"bedrock_drill_{database}"[:63]
        try:
            verify_sha256_file(path + ".sha256")
            self.run(["dropdb", "-h", self.cfg["socket_dir"], "-p", str(self.cfg["port"]), "--if-exists", scratch])
            self.run(["createdb", "-h", self.cfg["socket_dir"], "-p", str(self.cfg["port"]), scratch])
            t0 = now()
            cmd = ["pg_restore", "-h", self.cfg["socket_dir"], "-p", str(self.cfg["port"]), "--no-owner", "--no-acl",
                   "--exit-on-error", "-d", scratch]
            if meta["format"] == "directory":
                cmd += ["--jobs", str(self.cfg["jobs"])]
            self.run(cmd + [path])
            restore_seconds = now() - t0
            mismatches = row_count_mismatches(meta["row_counts"], count_rows(
                self.cfg["socket_dir"], self.cfg["port"], scratch, list(meta["row_counts"])))
            entry.update({"restore_seconds": round(restore_seconds, 3), "tables": len(meta["row_counts"]),
                          "rows": sum(meta["row_counts"].values()),
                          "restore_mb_per_second": round(meta["size_bytes"] / 1e6 / max(restore_seconds, 1e-3), 2),
                          "row_count_mismatches": mismatches})
            if mismatches:
                self.breach(f"{database}: row counts differ after restore: {mismatches}")
            else:
                entry["ok"] = True
            self.log(f"{database}: restored {entry['file']} in {restore_seconds:.1f} s, "
                     f"{entry['tables']} tables / {entry['rows']} rows match")
        except Exception as exc:
            entry["error"] = str(exc)
            self.breach(f"{database}: restore of {os.path.basename(path)} failed: {exc}")
        finally:
            subprocess.run(["dropdb", "-h", self.cfg["socket_dir"], "-p", str(self.cfg["port"]), "--if-exists",
                            scratch], capture_output=True)
        if age_hours > self.drill["max_backup_age_hours"]:
            self.breach(f"{database}: newest dump is {age_hours:.1f} h old "
                        f"(budget {self.drill['max_backup_age_hours']} h)")

    # ------------------------------------------------------------------ b) point-in-time recovery
    # The archiver (drill.archiver, the backups layer's backups_archiver): WAL-E or pgBackRest (archive.Archive).
    def archiver(self):
        return self.archive.kind

    def drill_pitr(self, target_time=None, target_name=None):
        entry = {"ok": False, "archiver": self.archiver()}
        self.report["pitr"] = entry
        scratch = os.path.join(self.drill["dir"], utc_stamp())
        data = os.path.join(scratch, "data")
        port = str(self.drill["port"])
        started = False
        try:
            newest = self.archive.newest_base_backup()
            name, finished, expanded = newest["name"], newest["stop"], newest["bytes"]
            entry["base_backup"] = name
            entry["base_backup_age_hours"] = round((now() - finished) / 3600, 2)
            entry["base_backup_expanded_bytes"] = expanded
            os.makedirs(data, mode=0o700)
            t0 = now()
            self.archive.fetch(data, name)
            entry["fetch_seconds"] = round(now() - t0, 3)
            if not os.path.exists(os.path.join(data, "backup_label")):
                raise RuntimeError("the fetched base backup has no backup_label: recovery would start from the "
                                   "wrong checkpoint")
            os.makedirs(os.path.join(data, "pg_wal", "archive_status"), exist_ok=True)
            options = recovery_settings(data, data, port, scratch, self.archive.restore_command(data, scratch),
                                        held_archiving=False, target_time=target_time, target_name=target_name,
                                        title="bedrock-restore-drill scratch cluster")
            if target_time:
                entry["recovery_target_time"] = target_time
            if target_name:
                entry["recovery_target_name"] = target_name
            timeout = str(int(self.drill["rto_budget_seconds"]) * 2)
            started = True
            self.run([f"{self.bin}/pg_ctl", "start", "-D", data, "-l", f"{scratch}/postgresql.log", "-w", "-t",
                      timeout, "-o", options])
            # hot_standby is off: the server accepts connections only once recovery ended and it was promoted
            # (pg_ctl -w returns as soon as the postmaster runs, while recovery is still replaying).
            deadline = now() + int(timeout)
            while True:
                try:
                    if self.psql("postgres", "SELECT pg_is_in_recovery()", host=scratch, port=port) == "f":
                        break
                except RuntimeError as exc:
                    if "not accepting connections" not in str(exc) and "starting up" not in str(exc):
                        raise
                if now() > deadline:
                    raise RuntimeError(f"the restored cluster did not leave recovery within {timeout} s")
                time.sleep(0.5)
            entry["rto_seconds"] = round(now() - t0, 3)
            beat = self.psql("bedrock", "SELECT extract(epoch FROM max(beat)) FROM heartbeat", host=scratch, port=port)
            if not beat:
                raise RuntimeError("the restored cluster has no heartbeat row")
            entry["newest_heartbeat_restored"] = iso(float(beat))
            entry["newest_heartbeat_restored_epoch"] = float(beat)
            entry["rpo_seconds"] = round(self.started - float(beat), 3)
            entry["restored_bytes"] = int(self.run(["du", "-sb", data]).split()[0])
            try:
                primary = float(self.psql("bedrock", "SELECT extract(epoch FROM max(beat)) FROM heartbeat"))
                entry["primary_heartbeat"] = iso(primary)
                entry["behind_primary_seconds"] = round(primary - float(beat), 3)
            except Exception:  # the primary may be down (crash drill): RPO is still measured against drill start
                entry["primary_heartbeat"] = None
            entry["ok"] = True
            self.log(f"PITR: {entry['base_backup']} restored and promoted in {entry['rto_seconds']} s; newest "
                     f"heartbeat {entry['newest_heartbeat_restored']} (RPO {entry['rpo_seconds']} s)")
            if not (target_time or target_name) and entry["rpo_seconds"] > self.drill["rpo_budget_seconds"]:
                self.breach(f"RPO {entry['rpo_seconds']} s over budget {self.drill['rpo_budget_seconds']} s")
            if entry["rto_seconds"] > self.drill["rto_budget_seconds"]:
                self.breach(f"RTO {entry['rto_seconds']} s over budget {self.drill['rto_budget_seconds']} s")
            if entry["base_backup_age_hours"] > self.drill["max_backup_age_hours"]:
                self.breach(f"newest base backup is {entry['base_backup_age_hours']} h old "
                            f"(budget {self.drill['max_backup_age_hours']} h)")
        except Exception as exc:
            entry["error"] = str(exc)
            self.breach(f"point-in-time restore failed: {exc}")
        finally:
            if started:
                subprocess.run([f"{self.bin}/pg_ctl", "stop", "-D", data, "-m", "immediate", "-w"], capture_output=True)
            self.archive.stop_fetching_ahead(scratch)
            shutil.rmtree(scratch, ignore_errors=True)

    def finish(self):
        self.report["finished"] = iso(now())
        self.report["duration_seconds"] = round(now() - self.started, 3)
        self.report["result"] = "breach" if self.report["breaches"] else "pass"
        report_dir = self.drill["report_dir"]
        os.makedirs(report_dir, exist_ok=True)
        text = json.dumps(self.report, indent=2, sort_keys=True) + "\n"
        stamp = utc_stamp()
        for name in (f"drill-{stamp}.json", "latest.json"):
            tmp = os.path.join(report_dir, name + ".partial")
            with open(tmp, "w") as fh:
                fh.write(text)
            os.rename(tmp, os.path.join(report_dir, name))
        return text


def summary(report):
    lines = [f"restore drill on {report['host']} at {report['started']}: {report['result'].upper()}"]
    for d in report["dumps"]:
        lines.append(f"  pg_dump {d['database']}: " + (
            f"{d.get('file')} age {d.get('age_hours')} h, restored in {d.get('restore_seconds')} s, "
            f"{d.get('tables')} tables / {d.get('rows')} rows match" if d["ok"] else f"FAILED {d.get('error', '')}"))
    p = report["pitr"]
    if p is not None:
        lines.append(f"  {p.get('archiver', 'wal-e')} PITR: " + (
            f"{p['base_backup']} age {p['base_backup_age_hours']} h, RTO {p['rto_seconds']} s, "
            f"RPO {p['rpo_seconds']} s (newest heartbeat {p['newest_heartbeat_restored']})" if p["ok"]
            else f"FAILED {p.get('error', '')}"))
    for b in report["breaches"]:
        lines.append(f"  breach: {b}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=BACKUPS_CONFIG)
    parser.add_argument("--skip-dump", action="store_true", help="only the point-in-time restore")
    parser.add_argument("--skip-pitr", action="store_true", help="only the pg_dump restores")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--target-time", help="recovery_target_time for the point-in-time restore")
    target.add_argument("--target-name", help="a restore point (bedrock-restore-point) for the point-in-time restore")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of the summary")
    parser.add_argument("--quiet", action="store_true", help="print only on a breach (for cron)")
    version_argument(parser)
    args = parser.parse_args(argv)
    with open(args.config) as fh:
        cfg = json.load(fh)
    os.umask(0o077)
    lock = try_lock(LOCK_FILE)
    if lock is None:
        print("bedrock-restore-drill: another drill is running; exiting", file=sys.stderr)
        return EX_LOCKED
    drill = Drill(cfg, args.quiet)
    if not args.skip_dump:
        for database in cfg["databases"]:
            drill.drill_dump(database)
    if not args.skip_pitr and drill.archive.configured():
        drill.drill_pitr(args.target_time, args.target_name)
    text = drill.finish()
    if args.json:
        print(text, end="")
    elif not args.quiet or drill.report["breaches"]:
        print(summary(drill.report))
    return 1 if drill.report["breaches"] else 0
