"""What an on-call person asks of a PostgreSQL host, in one run (as root or postgres, on the database host):

  bedrock-pg-report [connections|foreign-keys|all] [DATABASE]

connections: slots used vs max_connections minus the superuser reserve; by state, user and application.
foreign-keys: foreign keys whose referencing columns have no index (slow deletes and joins, lock waits).
"""

import argparse
import subprocess

from bedrock_tools.common import as_postgres, version_argument

SLOTS = """
  SELECT count(*) AS used,
         current_setting('max_connections')::int AS max_connections,
         current_setting('superuser_reserved_connections')::int AS reserved,
         current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
           AS available_to_apps,
         round(100.0 * count(*) / (current_setting('max_connections')::int
           - current_setting('superuser_reserved_connections')::int), 1) AS pct_of_available,
         count(*) FILTER (WHERE state = 'active') AS active,
         count(*) FILTER (WHERE state = 'idle') AS idle,
         count(*) FILTER (WHERE state = 'idle in transaction') AS idle_in_transaction,
         count(*) FILTER (WHERE state = 'idle in transaction (aborted)') AS idle_in_transaction_aborted
  FROM pg_stat_activity WHERE backend_type = 'client backend'"""

BY_STATE = """
  SELECT usename AS user, application_name AS application, coalesce(state, '') AS state, count(*) AS connections,
         max(now() - state_change) AS longest_in_state
  FROM pg_stat_activity WHERE backend_type = 'client backend'
  GROUP BY 1, 2, 3 ORDER BY connections DESC, 1, 2, 3"""

# An index covers a foreign key when its leading columns are exactly the key's columns, in any order.
UNINDEXED_FOREIGN_KEYS = """
  SELECT c.conrelid::regclass AS table_name, c.conname AS foreign_key,
         string_agg(a.attname, ', ' ORDER BY x.n) AS columns, c.confrelid::regclass AS references
  FROM pg_constraint c
  CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS x(attnum, n)
  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = x.attnum
  WHERE c.contype = 'f'
    AND NOT EXISTS (
      SELECT 1 FROM pg_index i
      WHERE i.indrelid = c.conrelid
        AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
        AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey)
  GROUP BY c.conrelid, c.conname, c.confrelid ORDER BY 1, 2"""

SECTIONS = {
    "connections": [("== connection slots", SLOTS), ("== by user, application and state", BY_STATE)],
    "foreign-keys": [("== foreign keys without an index on the referencing columns (database {db})",
                      UNINDEXED_FOREIGN_KEYS)],
}


def plan(what, database):
    """The (title, SQL) pairs a report runs, in order."""
    names = list(SECTIONS) if what == "all" else [what]
    return [(title.format(db=database), sql) for name in names for title, sql in SECTIONS[name]]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", default="all", choices=["connections", "foreign-keys", "all"])
    parser.add_argument("database", nargs="?", default="postgres")
    version_argument(parser)
    args = parser.parse_args(argv)
    for title, sql in plan(args.what, args.database):
        print(title, flush=True)
        command = as_postgres(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-P", "footer=off", "-d", args.database,
                               "-c", sql])
        res = subprocess.run(command, cwd="/")
        if res.returncode != 0:
            return res.returncode
    return 0
