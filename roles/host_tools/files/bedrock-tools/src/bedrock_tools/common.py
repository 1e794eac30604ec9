"""What several of Bedrock's tools share: the backups' settings file, UTC times, the log line, atomic and durable
writes, the dump names and their checksum files, the run lock, running a client as postgres."""

import datetime
import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys

from bedrock_tools import __version__

# Written by the backups role; read by bedrock-pg-dump and bedrock-restore-drill.
BACKUPS_CONFIG = "/etc/bedrock/backups.json"
# The exit code of a run that found another run holding its lock (flock -n, EX_TEMPFAIL).
EX_LOCKED = 75


def version_argument(parser):
    """--version on every tool: the package version the host runs (one wheel, one version)."""
    parser.add_argument("--version", action="version", version=f"%(prog)s (bedrock-tools {__version__})")


def iso(epoch):
    """An epoch as UTC ISO 8601 to the second, or None."""
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="seconds")


def utc_stamp(now=None):
    """The compact UTC time in file names: 20261201T010203Z."""
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def log_line(program, message, log_file=None, echo=True):
    """One timestamped line to stderr (unless echo is off) and appended to log_file when it can be written."""
    line = f"{iso(datetime.datetime.now(datetime.timezone.utc).timestamp())} {program}: {message}"
    if echo:
        print(line, file=sys.stderr, flush=True)
    if log_file:
        try:
            with open(log_file, "a") as fh:
                fh.write(line + "\n")
        except OSError:
            pass
    return line


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path, text, mode=0o600):
    """Writes text to path through path.partial, synced, then renamed: a reader sees the old file or the new one."""
    tmp = f"{path}.partial"
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dump_name(database, stamp):
    return f"{database}-{stamp}.dump"


def dumps_of(directory, database):
    """Dumps of one database named <database>-<UTC>.dump, newest first; never those of a database whose name
    extends this one's (app and app-2 are told apart)."""
    name = re.compile(re.escape(database) + r"-\d{8}T\d{6}Z\.dump")
    return sorted((os.path.join(directory, n) for n in os.listdir(directory) if name.fullmatch(n)), reverse=True)


def newest_complete_dump(directory, database, name=None):
    """The newest dump of database (or the one named, a file name in directory) that has its checksum file and its
    metadata (<dump>.json); None when there is none."""
    paths = dumps_of(directory, database)
    if name is not None:
        paths = [p for p in paths if os.path.basename(p) == name]
    for path in paths:
        if os.path.exists(path + ".sha256") and os.path.exists(path + ".json"):
            return path
    return None


def count_rows(host, port, database, tables):
    """Every listed table's rows (names as stored at dump time, format('%I.%I')), counted in one session:
    {table: rows}."""
    res = run_psql(["-h", host, "-p", str(port), "-f", "-"], database=database,
                   input="".join(f"SELECT count(*) FROM {table};\n" for table in tables))
    if res.returncode != 0:
        raise RuntimeError(f"counting rows in {database} failed: {res.stderr.strip()[-800:]}")
    counted = res.stdout.split()
    if len(counted) != len(tables):
        raise RuntimeError(f"counted {len(counted)} of {len(tables)} tables")
    return dict(zip(tables, map(int, counted)))


def row_count_mismatches(expected, restored):
    return {table: {"expected": rows_expected, "restored": restored.get(table)}
            for table, rows_expected in expected.items() if restored.get(table) != rows_expected}


def sha256_lines(name, written, files):
    """The checksum file (sha256sum -c format) of a dump named name, whose files were written under the path
    written (the dump itself, or a -Fd folder, perhaps still under a partial name): names relative to its folder."""
    return "".join(f"{sha256_of(path)}  {name}{path[len(written):]}\n" for path in files)


def verify_sha256_file(sums_path):
    """Checks every line of a sha256sum file against the files beside it; raises ValueError naming the first
    mismatch, a missing file or a malformed line."""
    directory = os.path.dirname(sums_path)
    with open(sums_path) as fh:
        lines = [line.rstrip("\n") for line in fh if line.strip()]
    if not lines:
        raise ValueError(f"{os.path.basename(sums_path)} lists no file")
    for line in lines:
        digest, sep, name = line.partition("  ")
        if not sep or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(f"malformed checksum line: {line!r}")
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            raise ValueError(f"missing: {name}")
        if sha256_of(path) != digest:
            raise ValueError(f"checksum mismatch: {name}")


def try_lock(path):
    """The open lock file when this process got the lock (keep it open for the run), None when another holds it."""
    lock = open(path, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def as_postgres(command):
    """command as the postgres user: unchanged when this process is postgres, else through runuser (root)."""
    import pwd

    if pwd.getpwuid(os.getuid()).pw_name == "postgres":
        return list(command)
    return ["runuser", "-u", "postgres", "--", *command]


def run_psql(args, database="postgres", header=False, **kw):
    """psql -X -A with ON_ERROR_STOP as postgres, tuples only unless header; returns the CompletedProcess (text)."""
    shape = ["-P", "footer=off"] if header else ["-t"]
    command = as_postgres(["psql", "-X", "-A", "-q", *shape, "-v", "ON_ERROR_STOP=1", "-d", database, *args])
    return subprocess.run(command, capture_output=True, text=True, cwd="/", **kw)


def rows(psql_output, separator="|"):
    """psql -A output with its header line as a list of {column: text}."""
    lines = [line for line in psql_output.splitlines() if line]
    if not lines:
        return []
    columns = lines[0].split(separator)
    return [dict(zip(columns, line.split(separator))) for line in lines[1:]]


def pgbackrest_backups(info_json):
    """The backups, oldest first, of the one stanza `pgbackrest --stanza=NAME info --output=json` printed."""
    stanzas = json.loads(info_json or "[]")
    return stanzas[0].get("backup", []) if stanzas else []
