"""The archive Bedrock's chosen archiver keeps (WAL-E or pgBackRest), as the restore drill and the host restore read
it: its base backups with their times and sizes, the newest WAL it holds and when that arrived, fetching a base
backup into a folder, and the restore_command that reads its WAL. Settings: the "drill" section of the backups'
settings file (written by the backups role)."""

import datetime
import glob
import json
import os
import signal
import subprocess
import time

from bedrock_tools.common import pgbackrest_backups

WAL_SEGMENT = 24  # characters in a WAL segment's name (timeline + log + segment, hex)
# pgBackRest's asynchronous archive-get for a recovery: processes fetching ahead of the replay, and the most WAL they
# queue in the spool. Measured on a 1.1 GB cluster with 10 minutes of pgbench WAL to replay (scripts/bench-restore,
# scripts/bench-results/restore.json): one archive-get per segment replayed 28.0 MB/s, four fetching ahead 94.5 MB/s.
ARCHIVE_GET_PROCESSES = 4
ARCHIVE_GET_QUEUE_BYTES = 1024 ** 3


def run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... exited {res.returncode}: {(res.stderr or res.stdout).strip()[-800:]}")
    return res.stdout


class Archive:
    def __init__(self, drill_cfg):
        self.cfg = drill_cfg
        self.kind = drill_cfg.get("archiver", "wal-e")
        self.stanza = drill_cfg.get("pgbackrest_stanza", "main")
        self._pgbackrest_info = None  # read once per Archive: the plan and the restore ask it twice at one moment

    def configured(self):
        """Whether the archiver's configuration is on this host (WAL-E's envdir, pgBackRest's configuration)."""
        if self.kind == "pgbackrest":
            return os.path.exists(self.cfg.get("pgbackrest_conf", "/etc/pgbackrest/pgbackrest.conf"))
        return os.path.isdir(self.cfg["wale_envdir"])

    def wale(self, *args):
        return run(["envdir", self.cfg["wale_envdir"], self.cfg["wale_command"], *args])

    def pgbackrest(self, *args):
        return run(["pgbackrest", f"--stanza={self.stanza}", *args])

    def pgbackrest_info(self):
        """pgBackRest's info on the stanza (JSON text). A repository it cannot read (its host unreachable, the stanza
        missing) is an error that says so, not a store without backups: status 0 is ok, 2 "no valid backups"."""
        if self._pgbackrest_info is not None:
            return self._pgbackrest_info
        info = self.pgbackrest("info", "--output=json")
        stanzas = json.loads(info or "[]")
        status = stanzas[0].get("status", {}) if stanzas else {}
        if status.get("code", 0) not in (0, 2):
            raise RuntimeError(f"pgBackRest cannot read the repository of stanza {self.stanza}: "
                               f"{status.get('message', 'no message')} (status {status.get('code')})")
        self._pgbackrest_info = info
        return info

    def base_backups(self):
        """The base backups, oldest first: {name, stop (epoch), bytes (expanded)}."""
        if self.kind == "pgbackrest":
            return [{"name": b["label"], "stop": float(b["timestamp"]["stop"]), "bytes": int(b["info"]["size"])}
                    for b in pgbackrest_backups(self.pgbackrest_info())]
        listing = self.wale("backup-list", "--detail").splitlines()
        backups = []
        for line in listing[1:]:
            row = dict(zip(listing[0].split("\t"), line.split("\t")))
            stop = datetime.datetime.fromisoformat(row["last_modified"].replace("Z", "+00:00")).timestamp()
            backups.append({"name": row["name"], "stop": stop, "bytes": int(row.get("expanded_size_bytes") or 0)})
        return sorted(backups, key=lambda b: b["stop"])

    def newest_base_backup(self):
        backups = self.base_backups()
        if not backups:
            raise RuntimeError(("pgBackRest" if self.kind == "pgbackrest" else "WAL-E") + " lists no base backup")
        return backups[-1]

    def newest_wal(self):
        """(file name, epoch it was stored) of the newest WAL segment or history file in the archive, or None when
        this store cannot tell (WAL-E on S3)."""
        if self.kind == "pgbackrest":
            stanzas = json.loads(self.pgbackrest_info() or "[]")
            archives = stanzas[0].get("archive", []) if stanzas else []
            if not archives or not archives[-1].get("max"):
                return None
            archive_id, newest = archives[-1]["id"], archives[-1]["max"]
            listing = json.loads(self.pgbackrest("repo-ls", "--output=json",
                                                 f"archive/{self.stanza}/{archive_id}/{newest[:16]}") or "{}")
            times = [entry["time"] for name, entry in listing.items() if name.startswith(newest)]
            return (newest, float(max(times))) if times else None
        prefix = self.wale_file_prefix()
        if prefix is None:
            return None
        files = [p for p in glob.glob(os.path.join(prefix, "wal_005", "*")) if os.path.isfile(p)]
        if not files:
            return None
        newest = max(files, key=lambda p: (os.path.basename(p)[:WAL_SEGMENT], os.path.getmtime(p)))
        return os.path.basename(newest).split(".")[0], os.path.getmtime(newest)

    def wale_file_prefix(self):
        """The folder of WAL-E's file store (WALE_FILE_PREFIX file://localhost/DIR), None for S3."""
        try:
            with open(os.path.join(self.cfg["wale_envdir"], "WALE_FILE_PREFIX")) as fh:
                url = fh.read().strip()
        except FileNotFoundError:
            return None
        return url[len("file://localhost"):] if url.startswith("file://localhost") else None

    def fetch(self, data, name):
        if self.kind == "pgbackrest":
            # --set: the backup chosen; the caller writes the recovery settings itself.
            self.pgbackrest(f"--pg1-path={data}", f"--set={name}", "--type=preserve", "restore")
        else:
            self.wale("backup-fetch", data, name)

    def spool_bytes(self):
        """The most disk a recovery's restore_command uses beside the cluster for WAL fetched ahead."""
        return ARCHIVE_GET_QUEUE_BYTES if self.kind == "pgbackrest" else 0

    def restore_command(self, data, work_dir):
        """The restore_command of a cluster recovering in data; work_dir is the recovery's own folder (WAL-E's log,
        pgBackRest's spool and lock: apart from the live cluster's, so the two never wait on each other)."""
        if self.kind == "pgbackrest":
            for folder in ("spool", "lock"):
                os.makedirs(os.path.join(work_dir, folder), mode=0o700, exist_ok=True)
            return (f"pgbackrest --stanza={self.stanza} --pg1-path={data} --archive-async "
                    f"--spool-path={work_dir}/spool --lock-path={work_dir}/lock "
                    f"--archive-get-queue-max={ARCHIVE_GET_QUEUE_BYTES} --process-max={ARCHIVE_GET_PROCESSES} "
                    f"archive-get %f \"%p\"")
        return (f"envdir {self.cfg['wale_envdir']} {self.cfg['wale_command']} wal-fetch --prefetch 0 "
                f"\"%f\" \"%p\" >>{work_dir}/wal-fetch.log 2>&1")

    def stop_fetching_ahead(self, work_dir, timeout=10.0):
        """Ends pgBackRest's archive-get processes still filling this recovery's spool (after a recovery that stopped
        at a target they fetch on up to the queue's size), so its folder can be removed; returns how many it found."""
        if self.kind != "pgbackrest":
            return 0
        mark = f"--spool-path={work_dir}/spool".encode()
        pids = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if mark in fh.read().split(b"\0"):
                        os.kill(int(entry), signal.SIGTERM)
                        pids.append(int(entry))
            except (ValueError, OSError):
                continue  # not a process, gone already, or not ours
        found, deadline = len(pids), time.monotonic() + timeout
        while pids and time.monotonic() < deadline:
            time.sleep(0.2)
            pids = [pid for pid in pids if running(pid)]
        return found


def running(pid):
    """Whether a process runs (a zombie has ended: only its parent's wait is missing)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def recovery_settings(conf_dir, data, port, socket_dir, restore_command, held_archiving, target_time=None,
                      target_name=None, title="recovering cluster"):
    """Writes a recovering cluster's own settings (postgresql.conf, pg_hba.conf with postgres's peer login, an empty
    pg_ident.conf) into conf_dir and recovery.signal into data; returns pg_ctl's -o options. A socket only, no TCP;
    recovery to the end of the archive or the target, then promotion. held_archiving: archive_mode on with an
    archive_command that fails, so the new timeline's history file and segments wait as .ready for the cluster's
    own archiver; otherwise archive_mode off (a scratch copy never writes to the store)."""
    archiving = ["archive_mode = on", "archive_command = 'false'"] if held_archiving else ["archive_mode = off"]
    conf = [f"port = {port}", "listen_addresses = ''", f"unix_socket_directories = '{socket_dir}'",
            "shared_buffers = 128MB", "max_connections = 20", "hot_standby = off", "ssl = off",
            "logging_collector = off", *archiving, f"restore_command = '{restore_command}'",
            "recovery_target_action = 'promote'", "recovery_target_timeline = 'latest'",
            f"hba_file = '{conf_dir}/pg_hba.conf'", f"ident_file = '{conf_dir}/pg_ident.conf'"]
    if target_time:
        conf.append(f"recovery_target_time = '{target_time}'")
    if target_name:
        # A name the archive does not hold: recovery reaches the end of the WAL and the server stops ("recovery
        # ended before configured recovery target was reached").
        conf.append(f"recovery_target_name = '{target_name}'")
    with open(os.path.join(conf_dir, "postgresql.conf"), "w") as fh:
        fh.write(f"# {title}\n" + "\n".join(conf) + "\n")
    with open(os.path.join(conf_dir, "pg_hba.conf"), "w") as fh:
        fh.write("local all postgres peer\n")
    open(os.path.join(conf_dir, "pg_ident.conf"), "w").close()
    open(os.path.join(data, "recovery.signal"), "w").close()
    # Command-line settings win over the postgresql.auto.conf the cluster brought from its primary.
    return (f"-c config_file={conf_dir}/postgresql.conf -c port={port} -c unix_socket_directories={socket_dir} "
            "-c listen_addresses= " + ("-c archive_mode=on -c archive_command=false" if held_archiving
                                       else "-c archive_mode=off"))
