import json
import signal
import subprocess
import sys

import pytest

from bedrock_tools import archive

CFG = {"archiver": "pgbackrest", "wale_envdir": "/etc/wal-e.d/env", "wale_command": "/w", "pgbackrest_stanza": "main"}


def answering(monkeypatch, answers):
    calls = []

    def run(cmd):
        calls.append(cmd)
        return answers.pop(0)
    monkeypatch.setattr(archive, "run", run)
    return calls


def test_pgbackrests_backups_oldest_first_and_the_chosen_one_restored_through_its_wal(monkeypatch):
    info = json.dumps([{"name": "main", "backup": [
        {"label": "20261201-010000F", "timestamp": {"start": 1764550800, "stop": 1764550860}, "info": {"size": 100}},
        {"label": "20261201-010000F_20261201-020000D", "timestamp": {"start": 1764554400, "stop": 1764554410},
         "info": {"size": 200}}]}])
    calls = answering(monkeypatch, [info, ""])
    store = archive.Archive({**CFG, "archiver": "pgbackrest"})
    assert store.newest_base_backup() == {"name": "20261201-010000F_20261201-020000D", "stop": 1764554410.0, "bytes": 200}
    store.fetch("/s/data", "20261201-010000F_20261201-020000D")
    assert calls == [["pgbackrest", "--stanza=main", "info", "--output=json"],
                     ["pgbackrest", "--stanza=main", "--pg1-path=/s/data", "--set=20261201-010000F_20261201-020000D",
                      "--type=preserve", "restore"]]


def test_pgbackrests_restore_command_fetches_ahead_into_the_recoverys_own_folders(tmp_path):
    store = archive.Archive({**CFG, "archiver": "pgbackrest"})
    command = store.restore_command("/s/data", str(tmp_path))
    # Relative WAL paths resolve against pg1-path: the restored cluster's, never another one's. Spool and lock in the
    # recovery's folder: the live cluster's archiver never waits on the recovery's lock, nor the other way round.
    assert command == (f"pgbackrest --stanza=main --pg1-path=/s/data --archive-async --spool-path={tmp_path}/spool "
                       f"--lock-path={tmp_path}/lock --archive-get-queue-max=1073741824 --process-max=4 "
                       'archive-get %f "%p"')
    assert (tmp_path / "spool").is_dir() and (tmp_path / "lock").is_dir()
    assert store.spool_bytes() == 1024 ** 3
    assert archive.Archive({**CFG, "archiver": "wal-e"}).spool_bytes() == 0


def test_archive_get_processes_still_fetching_are_ended_before_the_folder_goes(tmp_path):
    mark = f"--spool-path={tmp_path}/spool"
    ahead = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", mark])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", f"--spool-path={tmp_path}/x/spool"])
    try:
        store = archive.Archive({**CFG, "archiver": "pgbackrest"})
        assert store.stop_fetching_ahead(str(tmp_path), timeout=5) == 1
        assert ahead.wait(timeout=5) == -signal.SIGTERM
        assert other.poll() is None  # another recovery's fetcher runs on
        assert archive.Archive({**CFG, "archiver": "wal-e"}).stop_fetching_ahead(str(tmp_path)) == 0
    finally:
        for proc in (ahead, other):
            proc.kill()
            proc.wait()


def test_the_newest_wal_and_when_it_arrived_from_pgbackrests_repository(monkeypatch):
    info = json.dumps([{"name": "main", "archive": [{"id": "15-1", "min": "000000010000000000000001",
                                                     "max": "000000020000000000000007"}]}])
    listing = json.dumps({"000000020000000000000006-aa.lz4": {"type": "file", "time": 100},
                          "000000020000000000000007-bb.lz4": {"type": "file", "time": 160}})
    calls = answering(monkeypatch, [info, listing])
    assert archive.Archive(CFG).newest_wal() == ("000000020000000000000007", 160.0)
    assert calls[1] == ["pgbackrest", "--stanza=main", "repo-ls", "--output=json", "archive/main/15-1/0000000200000000"]


def test_wal_e_lists_its_backups_by_time_and_reads_its_file_store(monkeypatch, tmp_path):
    listing = ("name\tlast_modified\texpanded_size_bytes\n"
               "base_000000010000000000000009_00000040\t2026-12-01T02:00:00.000Z\t300\n"
               "base_000000010000000000000003_00000040\t2026-12-01T01:00:00.000Z\t100\n")
    answering(monkeypatch, [listing])
    env = tmp_path / "env"
    env.mkdir()
    (env / "WALE_FILE_PREFIX").write_text(f"file://localhost{tmp_path}/store\n")
    wal = tmp_path / "store" / "wal_005"
    wal.mkdir(parents=True)
    (wal / "00000001000000000000000A.lzo").write_text("x")
    (wal / "000000010000000000000009.lzo").write_text("x")
    store = archive.Archive({**CFG, "archiver": "wal-e", "wale_envdir": str(env)})
    assert [b["name"] for b in store.base_backups()] == ["base_000000010000000000000003_00000040",
                                                           "base_000000010000000000000009_00000040"]
    assert store.newest_wal()[0] == "00000001000000000000000A"
    (env / "WALE_FILE_PREFIX").unlink()
    assert store.newest_wal() is None  # S3: WAL-E cannot say when WAL arrived


@pytest.mark.parametrize("kind,answer", [("pgbackrest", json.dumps([{"name": "main", "backup": []}])),
                                         ("wal-e", "name\tlast_modified\n")])
def test_an_empty_archive_is_refused(monkeypatch, kind, answer):
    answering(monkeypatch, [answer])
    with pytest.raises(RuntimeError, match="lists no base backup"):
        archive.Archive({**CFG, "archiver": kind}).newest_base_backup()


def test_recovery_settings_hold_archiving_for_a_restore_and_turn_it_off_for_a_drill(tmp_path):
    work, data = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    data.mkdir()
    held = archive.recovery_settings(str(work), str(data), 5499, str(work), "cp x %p", held_archiving=True,
                                     target_name="p-20261201T000000Z")
    conf = (work / "postgresql.conf").read_text()
    assert "archive_mode = on\narchive_command = 'false'" in conf and "-c archive_command=false" in held
    assert "recovery_target_name = 'p-20261201T000000Z'" in conf and (data / "recovery.signal").exists()
    assert (work / "pg_hba.conf").read_text() == "local all postgres peer\n"
    scratch = archive.recovery_settings(str(data), str(data), 5499, str(work), "cp x %p", held_archiving=False)
    assert "archive_mode = off" in (data / "postgresql.conf").read_text() and held != scratch
    assert "-c archive_mode=off" in scratch and "listen_addresses= " in scratch


def test_a_repository_pgbackrest_cannot_read_is_an_error_not_an_empty_store(monkeypatch):
    unreadable = json.dumps([{"name": "main", "status": {"code": 99, "message": "other: [056]: unable to connect"},
                              "backup": []}])
    answering(monkeypatch, [unreadable])
    with pytest.raises(RuntimeError, match=r"cannot read the repository of stanza main: other: \[056\]: unable to connect"):
        archive.Archive({**CFG, "archiver": "pgbackrest"}).base_backups()
    # "no valid backups" is a store that is there and empty.
    empty = json.dumps([{"name": "main", "status": {"code": 2, "message": "no valid backups"}, "backup": []}])
    answering(monkeypatch, [empty])
    assert archive.Archive({**CFG, "archiver": "pgbackrest"}).base_backups() == []


def test_pgbackrest_info_is_read_once_for_the_backups_and_the_newest_wal(monkeypatch):
    info = json.dumps([{"name": "main", "status": {"code": 0, "message": "ok"},
                        "archive": [{"id": "15-1", "min": "000000010000000000000001", "max": "000000010000000000000007"}],
                        "backup": [{"label": "F1", "timestamp": {"start": 1, "stop": 2}, "info": {"size": 3}}]}])
    listing = json.dumps({"000000010000000000000007-bb.lz4": {"type": "file", "time": 160}})
    calls = answering(monkeypatch, [info, listing])
    store = archive.Archive({**CFG, "archiver": "pgbackrest"})
    assert store.newest_wal() == ("000000010000000000000007", 160.0)
    assert [b["name"] for b in store.base_backups()] == ["F1"]
    assert [c[2] for c in calls] == ["info", "repo-ls"]
