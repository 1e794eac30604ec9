"""The heartbeat the restore drill reads back from a restored cluster to measure its RPO: one row, the time of
the last beat, in database bedrock. Cron runs it every minute as postgres.

  bedrock-heartbeat [--port N] [BEATS]     BEATS times, a second apart (crash drills); default once
"""

import argparse
import sys
import time

from bedrock_tools.common import run_psql, version_argument

# The table is made again if it is gone (the wale role makes it once, with the database).
STATEMENTS = ("SET client_min_messages = warning",
              "CREATE TABLE IF NOT EXISTS heartbeat (id integer PRIMARY KEY, beat timestamptz NOT NULL)",
              "INSERT INTO heartbeat VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET beat = excluded.beat")


def psql_args(port):
    args = ["-p", str(port)] if port else []
    for statement in STATEMENTS:
        args += ["-c", statement]
    return args


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, help="PostgreSQL's port (default: Debian's psql finds the cluster)")
    parser.add_argument("beats", nargs="?", type=int, default=1)
    version_argument(parser)
    args = parser.parse_args(argv)
    for beat in range(args.beats):
        if beat:
            time.sleep(1)
        res = run_psql(psql_args(args.port), database="bedrock")
        if res.returncode != 0:
            print(f"bedrock-heartbeat: {res.stderr.strip()}", file=sys.stderr)
            return 1
    return 0
