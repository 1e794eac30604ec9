"""Connection saturation check for cron or a monitoring agent, Nagios-style exit codes:
  0 OK, 1 WARNING, 2 CRITICAL (3 UNKNOWN when PostgreSQL cannot be asked).
PostgreSQL: client connections used vs max_connections minus the superuser reserve.
PgBouncer (when it runs): clients waiting for a server connection, and the longest wait (maxwait), summed over
every process (pgbouncer_processes: process 1's socket in /var/run/postgresql, the others' in
/run/bedrock-pgbouncer-N).

  bedrock-pg-saturation [--warn PCT] [--crit PCT] [--maxwait-warn S] [--maxwait-crit S]
                        [--pgbouncer-port N] [--textfile FILE]   (Prometheus node_exporter textfile)
"""

import argparse
import glob
import os
import sys

from bedrock_tools.common import rows, run_psql, version_argument, write_atomic

UNKNOWN = 3
SOCKET_DIRS = ["/var/run/postgresql"]
PEER_SOCKET_DIRS = "/run/bedrock-pgbouncer-*"
SLOTS_SQL = ("SELECT count(*), current_setting('max_connections')::int"
             " - current_setting('superuser_reserved_connections')::int"
             " FROM pg_stat_activity WHERE backend_type = 'client backend'")


class Parser(argparse.ArgumentParser):
    def error(self, message):  # a usage error is UNKNOWN to a monitoring agent, not 2 (CRITICAL)
        self.print_usage(sys.stderr)
        self.exit(UNKNOWN, f"{self.prog}: error: {message}\n")


def pool_totals(pools):
    """(clients waiting, longest wait in s) over SHOW POOLS rows of every process."""
    waiting = sum(int(pool["cl_waiting"]) for pool in pools)
    maxwait = max((int(pool["maxwait"]) for pool in pools), default=0)
    return waiting, maxwait


def verdict(pct, waiting, maxwait, args):
    """(exit status, word): CRITICAL over crit or maxwait_crit; WARNING over warn, maxwait_warn or any wait."""
    if pct >= args.crit or maxwait >= args.maxwait_crit:
        return 2, "CRITICAL"
    if pct >= args.warn or maxwait >= args.maxwait_warn or waiting > 0:
        return 1, "WARNING"
    return 0, "OK"


def metrics(used, available, waiting, maxwait, status):
    gauges = [
        ("bedrock_pg_connections_used", "Client connections to PostgreSQL.", used),
        ("bedrock_pg_connections_available", "max_connections minus superuser_reserved_connections.", available),
        ("bedrock_pgbouncer_clients_waiting", "Clients waiting for a server connection.", waiting),
        ("bedrock_pgbouncer_maxwait_seconds", "Longest current wait for a server connection.", maxwait),
        ("bedrock_pg_saturation_status", "0 OK, 1 WARNING, 2 CRITICAL.", status),
    ]
    return "".join(f"# HELP {name} {text}\n# TYPE {name} gauge\n{name} {value}\n" for name, text, value in gauges)


def main(argv=None):
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warn", type=int, default=80, help="percent of the slots (default 80)")
    parser.add_argument("--crit", type=int, default=95, help="percent of the slots (default 95)")
    parser.add_argument("--maxwait-warn", type=int, default=1, help="seconds (default 1)")
    parser.add_argument("--maxwait-crit", type=int, default=5, help="seconds (default 5)")
    parser.add_argument("--pgbouncer-port", type=int, default=6432)
    parser.add_argument("--textfile", help="also write the figures as Prometheus gauges to this file")
    version_argument(parser)
    args = parser.parse_args(argv)

    res = run_psql(["-F", " ", "-c", SLOTS_SQL])
    if res.returncode != 0 or len(res.stdout.split()) != 2:
        print("UNKNOWN: cannot query PostgreSQL")
        return UNKNOWN
    used, available = map(int, res.stdout.split())
    pct = used * 100 // available

    pools, processes = [], 0
    for folder in SOCKET_DIRS + sorted(glob.glob(PEER_SOCKET_DIRS)):
        if not os.path.exists(os.path.join(folder, f".s.PGSQL.{args.pgbouncer_port}")):
            continue
        show = run_psql(["-h", folder, "-p", str(args.pgbouncer_port), "-U", "pgbouncer", "-c", "SHOW POOLS"],
                        database="pgbouncer", header=True)
        if show.returncode == 0:
            pools += rows(show.stdout)
            processes += 1
    waiting, maxwait = pool_totals(pools)
    bouncer = "not running"
    if processes:
        bouncer = f"{waiting} clients waiting, maxwait {maxwait}s"
        if processes > 1:
            bouncer += f" ({processes} processes)"

    status, word = verdict(pct, waiting, maxwait, args)
    print(f"{word}: PostgreSQL {used}/{available} connections ({pct}%); PgBouncer {bouncer} "
          f"| used={used};;;0;{available} pct={pct};{args.warn};{args.crit};0;100 waiting={waiting} maxwait={maxwait}")
    if args.textfile:
        write_atomic(args.textfile, metrics(used, available, waiting, maxwait, status), 0o644)
    return status
