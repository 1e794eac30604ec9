"""Restores one database from its pg_dump into a NEW database beside the live one, and proves it. Run as postgres.

The newest complete dump of DATABASE (or the one --dump names) in the backups folder: its checksums verified,
pg_restore into <database>_restored_<UTC> owned by --owner (the inventory's owner: roles and their passwords come
from the inventory, never from a dump), every table's row count compared with the count recorded in the dump's
snapshot. The live database is never written to; a name already taken is refused. On success it prints the
statements that swap the two names. Refused before anything is created when the data directory's filesystem has
less free space than the live database's size and a fifth. Exit 0: restored and every count matches; 1: refused
or failed (a restored database whose counts differ is kept for inspection, and said so).
"""

import argparse
import json
import os
import subprocess
import sys

from bedrock_tools.common import (BACKUPS_CONFIG, count_rows, newest_complete_dump, row_count_mismatches, run_psql,
                                  utc_stamp, verify_sha256_file, version_argument)


def beside(database, word, stamp):
    """<database>_<word>_<UTC>, cut to PostgreSQL's 63 bytes by shortening the database part."""
    suffix = f"_{word}_{stamp}"
    return database[:63 - len(suffix)] + suffix


def swap_statements(database, restored, stamp):
    """What an operator runs to put the restored copy in the live one's place (each rename needs the database
    free of sessions: PgBouncer's PAUSE holds the clients meanwhile)."""
    return [f"-- in PgBouncer's console: PAUSE {database};",
            f'ALTER DATABASE "{database}" RENAME TO "{beside(database, "replaced", stamp)}";',
            f'ALTER DATABASE "{restored}" RENAME TO "{database}";',
            f"-- in PgBouncer's console: RESUME {database};"]


class Refused(Exception):
    pass


def psql(cfg, sql, *params):
    """One answer from the cluster's postgres database; params become :'p0', :'p1' ... (quoted by psql)."""
    variables = [arg for i, value in enumerate(params) for arg in ("-v", f"p{i}={value}")]
    res = run_psql(["-h", cfg["socket_dir"], "-p", str(cfg["port"]), *variables], input=sql)
    if res.returncode != 0:
        raise RuntimeError(res.stderr.strip()[-800:])
    return res.stdout.strip()


def space_needed_and_free(cfg, database):
    """(bytes the restore needs, bytes free where it writes): the live database's size and a fifth more (its copy
    lands beside it on the primary's disk), against the free space of the data directory's filesystem."""
    size = psql(cfg, "SELECT coalesce(max(pg_database_size(datname)), 0) FROM pg_database WHERE datname = :'p0'",
                database)
    stat = os.statvfs(psql(cfg, "SHOW data_directory"))
    return int(size) * 6 // 5, stat.f_bavail * stat.f_frsize


def run(command):
    res = subprocess.run(command, capture_output=True, text=True, cwd="/")
    if res.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {res.returncode}: {(res.stderr or res.stdout).strip()[-800:]}")


def restore(cfg, database, owner, dump_name=None, stamp=None):
    """The report of one restore (a dict); raises Refused before anything is created."""
    path = newest_complete_dump(cfg["directory"], database, dump_name)
    if path is None:
        which = f"the dump {dump_name}" if dump_name else f"a complete dump of {database}"
        raise Refused(f"{which} (with its .sha256 and .json) is not in {cfg['directory']}")
    if psql(cfg, "SELECT count(*) FROM pg_roles WHERE rolname = :'p0'", owner) != "1":
        raise Refused(f"the owner {owner} is not a role of this cluster (the postgresql role makes the inventory's)")
    stamp = stamp or utc_stamp()
    restored = beside(database, "restored", stamp)
    if psql(cfg, "SELECT count(*) FROM pg_database WHERE datname = :'p0'", restored) != "0":
        raise Refused(f"a database named {restored} exists already; nothing was restored over it")
    needed, free = space_needed_and_free(cfg, database)
    if needed > free:
        raise Refused(f"restoring {database} needs about {needed // 2**20} MiB (the live database's size, with a fifth "
                      f"more), and the data directory's filesystem has {free // 2**20} MiB free")
    verify_sha256_file(path + ".sha256")
    with open(path + ".json") as fh:
        meta = json.load(fh)
    socket = ["-h", cfg["socket_dir"], "-p", str(cfg["port"])]
    run(["createdb", *socket, "--owner", owner, restored])
    # --no-owner --role: every object is made by the owner, so it owns them; ownership in the dump is ignored.
    command = ["pg_restore", *socket, "--no-owner", "--role", owner, "--exit-on-error", "-d", restored]
    if meta["format"] == "directory":
        command += ["--jobs", str(cfg["jobs"])]
    try:
        run(command + [path])
    except RuntimeError:
        subprocess.run(["dropdb", *socket, "--if-exists", restored], capture_output=True)
        raise
    mismatches = row_count_mismatches(meta["row_counts"], count_rows(cfg["socket_dir"], cfg["port"], restored,
                                                                     list(meta["row_counts"])))
    return {"database": database, "restored_as": restored, "owner": owner, "dump": os.path.basename(path),
            "dumped": meta["started"], "tables": len(meta["row_counts"]), "rows": sum(meta["row_counts"].values()),
            "row_count_mismatches": mismatches, "ok": not mismatches,
            "swap": swap_statements(database, restored, stamp)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database")
    parser.add_argument("--owner", required=True, help="the restored database's owner (the inventory's)")
    parser.add_argument("--dump", help="a dump's file name in the backups folder (default: the newest)")
    parser.add_argument("--config", default=BACKUPS_CONFIG)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    version_argument(parser)
    args = parser.parse_args(argv)
    with open(args.config) as fh:
        cfg = json.load(fh)
    try:
        report = restore(cfg, args.database, args.owner, args.dump)
    except Refused as exc:
        report = {"database": args.database, "ok": False, "refused": str(exc)}
    except (RuntimeError, ValueError) as exc:
        report = {"database": args.database, "ok": False, "error": str(exc)}
    if args.json:
        print(json.dumps(report, indent=2))
    elif report.get("ok"):
        print(f"{args.database}: {report['dump']} restored as {report['restored_as']} ({report['tables']} tables, "
              f"{report['rows']} rows, every count as at dump time). To swap the names:")
        print("\n".join("  " + line for line in report["swap"]))
    elif "restored_as" in report:
        print(f"{args.database}: restored as {report['restored_as']} (kept for inspection) but row counts differ: "
              f"{report['row_count_mismatches']}", file=sys.stderr)
    else:
        print(f"bedrock-restore-dump: {args.database}: {report.get('refused') or report.get('error')}", file=sys.stderr)
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
