import types

import pytest

from bedrock_tools import restore_host

BACKUPS = [{"name": "F1", "stop": 1000.0, "bytes": 10}, {"name": "F2", "stop": 2000.0, "bytes": 20}]


def test_a_restore_point_names_its_moment_and_a_time_needs_its_zone():
    assert restore_host.target_epoch(target_name="before-deploy-19700101T000100Z") == 60
    assert restore_host.target_epoch(target_time="1970-01-01 00:02:00+00") == 120
    assert restore_host.target_epoch() is None
    with pytest.raises(ValueError, match="bedrock-restore-point"):
        restore_host.target_epoch(target_name="before-deploy")
    with pytest.raises(ValueError, match="zone"):
        restore_host.target_epoch(target_time="1970-01-01 00:02:00")


def test_the_base_backup_before_the_target_is_chosen_and_a_target_outside_the_store_refused():
    wal = ("000000010000000000000009", 3000.0)
    assert restore_host.store_plan(BACKUPS, wal, None)[0]["name"] == "F2"
    assert restore_host.store_plan(BACKUPS, wal, 1500)[0]["name"] == "F1"
    assert restore_host.store_plan(BACKUPS, wal, 2500)[0]["name"] == "F2"
    with pytest.raises(ValueError, match="before the oldest base backup finished: the store holds base backups from "
                                         "1970-01-01T00:16:40"):
        restore_host.store_plan(BACKUPS, wal, 900)
    with pytest.raises(ValueError, match="after the newest WAL in the store: .* WAL up to 000000010000000000000009"):
        restore_host.store_plan(BACKUPS, wal, 3100)
    with pytest.raises(ValueError, match="no base backup"):
        restore_host.store_plan([], wal, None)


def test_a_primary_still_archiving_is_refused_unless_fenced_or_it_is_this_host():
    wal = ("000000010000000000000009", 1000.0)
    assert "still archives" in restore_host.archiving_elsewhere(wal, 1030, 180, None, False)
    assert restore_host.archiving_elsewhere(wal, 1030, 180, None, True) is None
    assert restore_host.archiving_elsewhere(wal, 1200, 180, None, False) is None
    # This host's own cluster archived that segment: the restore stops it first.
    assert restore_host.archiving_elsewhere(wal, 1030, 180, "000000010000000000000009", False) is None
    assert "cannot tell" in restore_host.archiving_elsewhere(None, 1030, 180, None, False)


def store_holding(backups, newest_wal):
    """An Archive class whose store holds these base backups and this newest WAL."""
    return lambda cfg: types.SimpleNamespace(kind="pgbackrest", configured=lambda: True, newest_wal=lambda: newest_wal,
                                             base_backups=lambda: backups, spool_bytes=lambda: 2**30)


def test_the_plan_refuses_local_data_without_keep_aside(monkeypatch, tmp_path):
    monkeypatch.setattr(restore_host, "Archive", store_holding(BACKUPS, ("000000010000000000000009", 0.0)))
    monkeypatch.setattr(restore_host, "local_cluster",
                        lambda: {"running": True, "last_archived_wal": None, "user_tables": {"app": 3}})
    args = types.SimpleNamespace(target_time=None, target_name=None, quiet_seconds=180, old_primary_fenced=False,
                                 keep_aside=False, data_dir=str(tmp_path / "main"))
    report = restore_host.plan({"drill": {}}, args, now=10_000)
    assert report["refused"].startswith("PostgreSQL on this host holds data (app: 3 tables); restore_keep_aside=true")
    args.keep_aside = True
    report = restore_host.plan({"drill": {}}, args, now=10_000)
    assert report["refused"] is None and report["base_backup"]["name"] == "F2"
    assert report["disk"]["needed_bytes"] > 20


def test_a_server_that_stopped_ends_the_wait_with_its_log(tmp_path):
    (tmp_path / "postgresql.log").write_text("FATAL:  recovery ended before configured recovery target was reached\n")
    with pytest.raises(RuntimeError, match="recovery stopped before the promotion: FATAL:  recovery ended before"):
        restore_host.wait_for(str(tmp_path), str(tmp_path / "postgresql.log"), "the promotion", 5, lambda: False)
    # Connection refusals while it replays are no failure: only a server gone (no postmaster.pid) is.
    (tmp_path / "postmaster.pid").write_text("1\n")
    assert restore_host.wait_for(str(tmp_path), str(tmp_path / "postgresql.log"), "the end", 5, lambda: True) > 0


def test_the_plan_refuses_a_disk_without_room_for_the_restored_cluster_beside_the_old(monkeypatch, tmp_path):
    monkeypatch.setattr(restore_host, "Archive", store_holding([{"name": "base_1", "stop": 1000.0, "bytes": 10 * 2**30}],
                                                               None))
    monkeypatch.setattr(restore_host, "local_cluster", lambda: {"running": False, "last_archived_wal": None,
                                                               "user_tables": {}})
    monkeypatch.setattr(restore_host.shutil, "disk_usage", lambda path: types.SimpleNamespace(free=5 * 2**30))
    args = types.SimpleNamespace(target_time=None, target_name=None, quiet_seconds=180, old_primary_fenced=True,
                                 keep_aside=False, data_dir=str(tmp_path / "main"))
    report = restore_host.plan({"drill": {}}, args, now=10_000)
    assert report["refused"] == (f"{tmp_path} has 5120 MiB free; the restored cluster needs 13568 MiB (base backup "
                                 "base_1, 10240 MiB expanded, x1.2 + 256 MiB, + 1024 MiB of WAL fetched ahead) beside "
                                 "what the host keeps")
