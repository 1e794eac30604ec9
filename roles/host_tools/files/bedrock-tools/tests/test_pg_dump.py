import json
import os
import time

import pytest

from bedrock_tools import common, pg_dump


@pytest.fixture
def cfg(tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    return {"directory": str(directory), "log_file": str(tmp_path / "pg-dump.log"), "lock_file": str(tmp_path / "lock"),
            "status_file": str(tmp_path / "status.json"), "format": "custom", "compress": 6, "jobs": 2,
            "retain_count": 2, "retain_days": 7, "databases": ["app"], "port": 5432, "socket_dir": "/run/x"}


def fake_dump(counts):
    def count_rows_and_dump(cfg, database, target):
        with open(target, "w") as fh:
            fh.write(f"dump of {database}")
        return counts
    return count_rows_and_dump


def test_a_dump_is_complete_checksummed_and_found_by_the_restore_drill(cfg, monkeypatch):
    monkeypatch.setattr(pg_dump, "count_rows_and_dump", fake_dump({"public.t": 3}))
    meta = pg_dump.backup_one(cfg, "app")
    path = os.path.join(cfg["directory"], meta["file"])
    common.verify_sha256_file(path + ".sha256")
    assert json.load(open(path + ".json"))["row_counts"] == {"public.t": 3}
    # The restore drill and bedrock-restore-dump find it; by its name too.
    assert common.newest_complete_dump(cfg["directory"], "app") == path
    assert common.newest_complete_dump(cfg["directory"], "app", meta["file"]) == path
    assert common.newest_complete_dump(cfg["directory"], "app", "app-20200101T000000Z.dump") is None
    assert sorted(os.listdir(cfg["directory"])) == [meta["file"], meta["file"] + ".json", meta["file"] + ".sha256"]


def test_a_failed_dump_leaves_nothing_behind(cfg, monkeypatch):
    def broken(cfg, database, target):
        with open(target, "w") as fh:
            fh.write("half")
        raise RuntimeError("pg_dump app exited 1")
    monkeypatch.setattr(pg_dump, "count_rows_and_dump", broken)
    with pytest.raises(RuntimeError):
        pg_dump.backup_one(cfg, "app")
    assert os.listdir(cfg["directory"]) == []


def make_dump(cfg, stamp, age_days, complete=True):
    path = os.path.join(cfg["directory"], f"app-{stamp}.dump")
    open(path, "w").close()
    if complete:
        open(path + ".sha256", "w").close()
        open(path + ".json", "w").close()
    old = time.time() - age_days * 86400
    os.utime(path, (old, old))
    return os.path.basename(path)


def test_prune_keeps_the_newest_count_and_age_and_never_the_newest(cfg):
    newest = make_dump(cfg, "20261105T000000Z", 30)
    second = make_dump(cfg, "20261104T000000Z", 1)
    third = make_dump(cfg, "20261103T000000Z", 1)
    incomplete = make_dump(cfg, "20261102T000000Z", 30, complete=False)
    pg_dump.prune(cfg, "app")
    # The newest stays although older than retain_days; the third is beyond retain_count (2); a dump without its
    # checksum file is not a backup: neither counted nor touched.
    assert {n for n in os.listdir(cfg["directory"]) if n.endswith(".dump")} == {newest, second, incomplete}
    assert not os.path.exists(os.path.join(cfg["directory"], third + ".sha256"))
    cfg.update(retain_count=10, retain_days=0.5)
    pg_dump.prune(cfg, "app")
    assert {n for n in os.listdir(cfg["directory"]) if n.endswith(".dump")} == {newest, incomplete}


def test_prune_removes_partial_leftovers_older_than_a_day(cfg):
    stale = os.path.join(cfg["directory"], ".app-20261101T000000Z.dump.partial")
    fresh = os.path.join(cfg["directory"], ".app-20261105T000000Z.dump.partial")
    for path, age in [(stale, 2 * 86400), (fresh, 60)]:
        open(path, "w").close()
        os.utime(path, (time.time() - age, time.time() - age))
    pg_dump.prune(cfg, "app")
    assert os.listdir(cfg["directory"]) == [os.path.basename(fresh)]


def test_check_reports_the_age_of_the_last_success(cfg, capsys):
    assert pg_dump.check(cfg, 26, 52) == 2
    assert "no successful backup" in capsys.readouterr().out
    now = time.time()
    status = {"last_success": now - 3600, "last_success_iso": common.iso(now - 3600), "last_result": "ok"}
    common.write_atomic(cfg["status_file"], json.dumps(status))
    assert pg_dump.check(cfg, 26, 52) == 0
    assert pg_dump.check(cfg, 0.5, 52) == 1
    assert pg_dump.check(cfg, 0.1, 0.5) == 2
    common.write_atomic(cfg["status_file"], json.dumps({**status, "last_result": "failed: app"}))
    assert pg_dump.check(cfg, 26, 52) == 1
    assert "WARNING" in capsys.readouterr().out


def test_a_second_run_exits_75_while_the_first_holds_the_lock(cfg, monkeypatch):
    monkeypatch.setattr(pg_dump, "count_rows_and_dump", fake_dump({}))
    held = common.try_lock(cfg["lock_file"])
    assert pg_dump.run(cfg) == common.EX_LOCKED
    assert "another run holds" in open(cfg["log_file"]).read()
    held.close()
    assert pg_dump.run(cfg) == 0
    status = json.load(open(cfg["status_file"]))
    assert status["last_result"] == "ok" and list(status["databases"]) == ["app"]


def test_one_failing_database_fails_the_run_and_the_others_still_dump(cfg, monkeypatch):
    cfg["databases"] = ["app", "broken"]

    def some_fail(cfg, database, target):
        if database == "broken":
            raise RuntimeError("no such database")
        return fake_dump({})(cfg, database, target)
    monkeypatch.setattr(pg_dump, "count_rows_and_dump", some_fail)
    assert pg_dump.run(cfg) == 1
    assert json.load(open(cfg["status_file"]))["last_result"] == "failed: broken"
    assert len(common.dumps_of(cfg["directory"], "app")) == 1
