"""Marks a moment to restore to: a named restore point in the WAL, before a risky operation (a deploy's migration,
a bulk delete). Run as postgres, or as root; a deploy script can call it.

The name given gets the UTC time appended (before-deploy -> before-deploy-20261201T093000Z), so the same word used
at every deploy still names one moment: recovery stops at the first restore point of a name. The WAL segment
holding it is switched out at once, and the command returns only once the archive holds it (exit 1 after --wait
seconds without: the risky operation should wait too). Prints the full name (with --json: name, LSN, time, WAL
file). bedrock-restore-drill --target-name NAME proves it restores.
"""

import argparse
import json
import re
import sys
import time

from bedrock_tools.common import run_psql, utc_stamp, version_argument

# PostgreSQL keeps 63 bytes of a restore point's name; the appended -<UTC> takes 17.
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,45}")


def full_name(word, stamp):
    if not WORD.fullmatch(word):
        raise ValueError(f"the name must be 1-46 of A-Z a-z 0-9 _ . - starting with a letter or digit, got {word!r}")
    return f"{word}-{stamp}"


def create(name):
    """Creates the restore point and switches the WAL segment out; returns {name, lsn, created, wal_file}."""
    res = run_psql(["-v", f"name={name}", "-F", "|", "-f", "-"],
                   input="SELECT pg_create_restore_point(:'name'), pg_walfile_name(pg_current_wal_lsn()), "
                         "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"');\n"
                         "SELECT pg_switch_wal();\n")
    if res.returncode != 0:
        raise RuntimeError(res.stderr.strip()[-800:] or f"psql exited {res.returncode}")
    lsn, wal_file, created = res.stdout.splitlines()[0].split("|")
    return {"name": name, "lsn": lsn, "created": created, "wal_file": wal_file}


def archived(wal_file):
    """Whether the archiver has archived wal_file (or a later segment of its timeline)."""
    res = run_psql(["-c", "SELECT last_archived_wal FROM pg_stat_archiver"])
    last = res.stdout.strip() if res.returncode == 0 else ""
    return len(last) == 24 and last[:8] == wal_file[:8] and last >= wal_file


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="a word such as before-deploy (the UTC time is appended)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--wait", type=int, default=120, help="seconds to wait for the archive (default 120)")
    version_argument(parser)
    args = parser.parse_args(argv)
    try:
        point = create(full_name(args.name, utc_stamp()))
    except (ValueError, RuntimeError) as exc:
        print(f"bedrock-restore-point: {exc}", file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.wait
    while not archived(point["wal_file"]):
        if time.monotonic() > deadline:
            print(f"bedrock-restore-point: {point['name']} was made, but its WAL file {point['wal_file']} is not in "
                  f"the archive after {args.wait} s (see pg_stat_archiver and the archiver's log); until it is, "
                  "nothing can be restored to it", file=sys.stderr)
            return 1
        time.sleep(0.5)
    print(json.dumps(point, indent=2) if args.json else
          f"restore point {point['name']} at {point['lsn']} ({point['created']}), in WAL file {point['wal_file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
