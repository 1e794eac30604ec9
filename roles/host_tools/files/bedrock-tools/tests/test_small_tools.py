import json
import os
import sys

import pytest

from bedrock_tools import __version__, heartbeat, report, restore_drill, wal_e


def test_report_sections_in_order():
    assert [title for title, _ in report.plan("all", "shop")] == [
        "== connection slots", "== by user, application and state",
        "== foreign keys without an index on the referencing columns (database shop)"]
    assert len(report.plan("foreign-keys", "shop")) == 1


def test_report_refuses_an_unknown_section():
    with pytest.raises(SystemExit) as exit_:
        report.main(["everything"])
    assert exit_.value.code == 2


def test_heartbeat_statements_and_port():
    assert heartbeat.psql_args(None)[:2] == ["-c", "SET client_min_messages = warning"]
    assert heartbeat.psql_args(5433)[:2] == ["-p", "5433"]
    assert any("ON CONFLICT (id) DO UPDATE" in arg for arg in heartbeat.psql_args(None))


def test_every_tool_says_its_version(capsys):
    for tool in (heartbeat, report):
        with pytest.raises(SystemExit):
            tool.main(["--version"])
        assert f"bedrock-tools {__version__}" in capsys.readouterr().out


def test_wal_e_runs_this_file_again_under_wal_e_interpreter(monkeypatch, tmp_path):
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    monkeypatch.setenv("BEDROCK_WALE_PYTHON", str(python))
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, args: calls.append((path, args)))
    wal_e.main(["wal-push", "pg_wal/000000010000000000000001"])
    assert calls == [(str(python), [str(python), "-P", os.path.abspath(wal_e.__file__), "wal-push",
                                    "pg_wal/000000010000000000000001"])]


def test_wal_e_without_its_interpreter_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BEDROCK_WALE_PYTHON", str(tmp_path / "missing"))
    assert wal_e.main(["backup-list"]) == 127
    assert "no WAL-E interpreter" in capsys.readouterr().err


def test_wal_e_module_imports_nothing_from_the_package():
    # It runs under WAL-E's own interpreter, where bedrock_tools is not installed.
    source = open(wal_e.__file__).read()
    assert "bedrock_tools" not in source.replace('"""', "").split("import datetime", 1)[1]


def test_restore_drill_summary():
    report_ = {"host": "db", "started": "2026-12-01T00:00:00+00:00", "result": "breach",
               "dumps": [{"database": "app", "ok": True, "file": "app-1.dump", "age_hours": 1.0, "restore_seconds": 2,
                          "tables": 3, "rows": 9},
                         {"database": "shop", "ok": False, "error": "checksum mismatch: shop-1.dump"}],
               "pitr": {"ok": True, "base_backup": "base_1", "base_backup_age_hours": 2.0, "rto_seconds": 4.1,
                        "rpo_seconds": 0.2, "newest_heartbeat_restored": "2026-12-01T00:00:00+00:00"},
               "breaches": ["shop: restore of shop-1.dump failed: checksum mismatch: shop-1.dump"]}
    text = restore_drill.summary(report_)
    assert text.splitlines()[0] == "restore drill on db at 2026-12-01T00:00:00+00:00: BREACH"
    assert "  pg_dump shop: FAILED checksum mismatch: shop-1.dump" in text
    assert "RTO 4.1 s, RPO 0.2 s" in text
    assert sys.modules["bedrock_tools.common"].EX_LOCKED == 75


