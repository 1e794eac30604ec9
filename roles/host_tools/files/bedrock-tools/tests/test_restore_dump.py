import json

import pytest

from bedrock_tools import restore_dump


def test_the_restored_name_fits_postgresql_and_keeps_its_stamp():
    assert restore_dump.beside("appdb", "restored", "20261201T093000Z") == "appdb_restored_20261201T093000Z"
    long = restore_dump.beside("d" * 63, "restored", "20261201T093000Z")
    assert len(long) == 63 and long.endswith("_restored_20261201T093000Z")


def test_the_swap_pauses_pgbouncer_and_keeps_the_old_database_under_another_name():
    lines = restore_dump.swap_statements("appdb", "appdb_restored_20261201T093000Z", "20261201T093000Z")
    assert lines[0].endswith("PAUSE appdb;") and lines[-1].endswith("RESUME appdb;")
    assert 'ALTER DATABASE "appdb" RENAME TO "appdb_replaced_20261201T093000Z";' in lines
    assert 'ALTER DATABASE "appdb_restored_20261201T093000Z" RENAME TO "appdb";' in lines


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "backups.json"
    path.write_text(json.dumps({"directory": str(tmp_path), "socket_dir": "/run/x", "port": 5432, "jobs": 2}))
    return path


def test_no_dump_is_refused_before_anything_is_created(config, monkeypatch, capsys):
    monkeypatch.setattr(restore_dump, "psql", lambda *a: pytest.fail("nothing may reach the cluster"))
    assert restore_dump.main(["appdb", "--owner", "app", "--config", str(config)]) == 1
    assert "a complete dump of appdb (with its .sha256 and .json) is not in" in capsys.readouterr().err
    assert restore_dump.main(["appdb", "--owner", "app", "--dump", "appdb-20200101T000000Z.dump",
                              "--config", str(config), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["refused"].startswith("the dump appdb-20200101T000000Z.dump")


def test_a_taken_name_or_an_unknown_owner_is_refused(config, tmp_path, monkeypatch):
    for suffix, text in ((".dump", "x"), (".dump.sha256", ""), (".dump.json", "{}")):
        (tmp_path / f"appdb-20261201T000000Z{suffix}").write_text(text)
    answers = {"pg_roles": "0", "pg_database_size": str(10 * 2**20), "SHOW data_directory": str(tmp_path),
               "pg_database": "1"}
    monkeypatch.setattr(restore_dump, "psql", lambda cfg, sql, *p: next(v for k, v in answers.items() if k in sql))
    cfg = json.loads(config.read_text())
    with pytest.raises(restore_dump.Refused, match="the owner app is not a role"):
        restore_dump.restore(cfg, "appdb", "app")
    answers["pg_roles"] = "1"
    with pytest.raises(restore_dump.Refused, match="appdb_restored_20261201T093000Z exists already"):
        restore_dump.restore(cfg, "appdb", "app", stamp="20261201T093000Z")


def test_a_restore_the_disk_cannot_hold_is_refused(config, tmp_path, monkeypatch):
    for suffix, text in ((".dump", "x"), (".dump.sha256", ""), (".dump.json", "{}")):
        (tmp_path / f"appdb-20261201T000000Z{suffix}").write_text(text)
    free = restore_dump.os.statvfs(tmp_path)
    live = free.f_bavail * free.f_frsize
    answers = {"pg_roles": "1", "pg_database_size": str(live), "SHOW data_directory": str(tmp_path),
               "pg_database": "0"}
    monkeypatch.setattr(restore_dump, "psql", lambda cfg, sql, *p: next(v for k, v in answers.items() if k in sql))
    monkeypatch.setattr(restore_dump, "run", lambda command: pytest.fail("nothing may be created"))
    with pytest.raises(restore_dump.Refused, match="the data directory's filesystem has [0-9]+ MiB free"):
        restore_dump.restore(json.loads(config.read_text()), "appdb", "app")
