"""WAL-E 1.1.1 with Bedrock's PostgreSQL 15 compatibility, logging to stderr: same arguments as wal-e.

Run it through envdir with Bedrock's WAL-E envdir, as postgres. The console script (main) runs this file again
under WAL-E's own interpreter (WAL-E's virtualenv, /opt/wal-e): it patches WAL-E in that process, so it imports
nothing from bedrock_tools.

WAL-E 1.1.1 (the last release, 2020) starts and stops a base backup with pg_start_backup()/pg_stop_backup()
in two separate psql runs. PostgreSQL 15 removed those exclusive-backup functions; its non-exclusive API
(pg_backup_start ... pg_backup_stop) must run in ONE session that stays open for the whole upload, and
pg_backup_stop() returns the backup_label (and tablespace_map) instead of leaving them in the data directory.

What it changes in WAL-E (install(), before WAL-E's own main):
  * holds one psycopg2 session from run_start_backup() to run_stop_backup() and uses pg_backup_start/stop;
  * uploads what pg_backup_stop() returned as one more tar partition (backup_label, tablespace_map) before
    WAL-E writes the backup's sentinel, so an unmodified backup-fetch extracts them into the restored data
    directory, and recovery starts from the backup's checkpoint (without backup_label it would start from
    pg_control's later checkpoint and silently produce a corrupt cluster);
  * leaves everything else (wal-push, wal-fetch, backup-list, delete) to WAL-E.
pg_backup_start/pg_backup_stop exist from PostgreSQL 15 on; Bedrock runs Debian 12's PostgreSQL 15.
"""

import datetime
import io
import os
import sys
import tarfile
import tempfile

# WAL-E's virtualenv (the wale role's wale_venv); BEDROCK_WALE_PYTHON names another interpreter.
WALE_PYTHON = "/opt/wal-e/bin/python"


def wale_python():
    return os.environ.get("BEDROCK_WALE_PYTHON", WALE_PYTHON)


def main(argv=None):
    """The console script: this file again, under WAL-E's interpreter, with the same arguments."""
    args = sys.argv[1:] if argv is None else argv
    python = wale_python()
    if not os.access(python, os.X_OK):
        print(f"bedrock-wal-e: no WAL-E interpreter at {python} (the wale role installs it)", file=sys.stderr)
        return 127
    # -P: this file's folder (the other tools' modules) stays off sys.path in WAL-E's process.
    os.execv(python, [python, "-P", os.path.abspath(__file__), *args])


_session = {}


def _connect():
    # The same libpq environment WAL-E's psql runs use (PGHOST, PGPORT, PGUSER ... or the defaults).
    conn = psycopg2.connect(dbname=os.environ.get("PGDATABASE", "postgres"), application_name="wal-e backup-push")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET statement_timeout = 0")
    return conn


def _walfile(cur, lsn_sql, args=()):
    cur.execute("SELECT file_name, lpad(file_offset::text, 8, '0') FROM pg_walfile_name_offset(" + lsn_sql + ")",
                args)
    file_name, file_offset = cur.fetchone()
    return {"file_name": file_name, "file_offset": file_offset}


def run_start_backup(cls):
    label = "freeze_start_" + datetime.datetime.now(datetime.timezone.utc).isoformat()
    conn = _connect()
    with conn.cursor() as cur:
        # fast => an immediate checkpoint, as WAL-E's pg_start_backup(label) did not ask for; keeps tests quick
        # and matches what operators expect from a backup they start by hand.
        info = _walfile(cur, "pg_backup_start(%s, true)", (label,))
    _session.clear()
    _session["conn"] = conn
    return info


def run_stop_backup(cls):
    conn = _session.get("conn")
    if conn is None:
        raise psql_worker.UserException("no backup session to stop",
                                        "pg_backup_start was not run by this process")
    with conn.cursor() as cur:
        # wait_for_archive: return only when the WAL up to the stop point is archived, as pg_stop_backup did.
        cur.execute("SELECT lsn, labelfile, spcmapfile FROM pg_backup_stop(true)")
        lsn, labelfile, spcmapfile = cur.fetchone()
        info = _walfile(cur, "%s::pg_lsn", (str(lsn),))
    conn.close()
    _session.clear()
    upload = _session_upload.pop("pending", None)
    if upload is not None:
        _upload_label_partition(upload, labelfile, spcmapfile)
    return info


_session_upload = {}


def _upload_pg_cluster_dir(self, start_backup_info, pg_cluster_dir, version, pool_size, rate_limit=None):
    spec, backup_prefix, total_size = _original["upload"](self, start_backup_info, pg_cluster_dir, version,
                                                       pool_size, rate_limit=rate_limit)
    # Only a completed upload gets the label partition (and then the sentinel, which WAL-E writes after stop).
    _session_upload["pending"] = {"creds": self.creds, "prefix": backup_prefix, "gpg_key_id": self.gpg_key_id}
    return spec, backup_prefix, total_size


def _upload_label_partition(upload, labelfile, spcmapfile):
    prefix = upload["prefix"]
    members = {"backup_label": labelfile}
    if spcmapfile:
        members["tablespace_map"] = spcmapfile
    with tempfile.TemporaryDirectory(prefix="bedrock-wal-e-") as tmp:
        path = os.path.join(tmp, "label.tar")
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
            for name, text in members.items():
                data = text.encode("utf-8")
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o600
                info.mtime = int(datetime.datetime.now().timestamp())
                tar.addfile(info, io.BytesIO(data))
        # The highest partition number: WAL-E numbers the data partitions from 0 and fetches every part_N.
        url = "{0}/tar_partitions/part_{1:08d}.tar.lzo".format(prefix, 99999999)
        worker_util.do_lzop_put(upload["creds"], url, path, upload["gpg_key_id"])


_original = {}


def install():
    _original["upload"] = operator_backup.Backup._upload_pg_cluster_dir
    psql_worker.PgBackupStatements.run_start_backup = classmethod(run_start_backup)
    psql_worker.PgBackupStatements.run_stop_backup = classmethod(run_stop_backup)
    operator_backup.Backup._upload_pg_cluster_dir = _upload_pg_cluster_dir


if __name__ == "__main__":  # in WAL-E's interpreter, run by main()
    # WAL-E's default also logs to syslog, which fails where /dev/log is missing; stderr goes to its own log.
    # Set before WAL-E's modules are imported.
    os.environ.setdefault("WALE_LOG_DESTINATION", "stderr")
    import psycopg2
    from wal_e.cmd import main as wale_main
    from wal_e.operator import backup as operator_backup
    from wal_e.worker import worker_util
    from wal_e.worker.pg import psql_worker

    install()
    sys.exit(wale_main())
