import subprocess

import pytest

from bedrock_tools import restore_drill, restore_point


def test_the_name_gets_the_time_and_fits_postgresql():
    name = restore_point.full_name("before-deploy", "20261201T093000Z")
    assert name == "before-deploy-20261201T093000Z"
    assert len(restore_point.full_name("x" * 46, "20261201T093000Z")) == 63


@pytest.mark.parametrize("word", ["", "_x", "x" * 47, "two words", "a'b"])
def test_a_name_postgresql_would_cut_or_a_shell_would_split_is_refused(word, monkeypatch, capsys):
    monkeypatch.setattr(restore_point, "run_psql", lambda *a, **k: pytest.fail("nothing may reach the cluster"))
    assert restore_point.main([word]) == 1
    assert "the name must be 1-46 of" in capsys.readouterr().err


def test_it_reads_the_point_and_switches_the_segment_out(monkeypatch, capsys):
    calls = []

    archive = iter(["000000010000000000000002", "000000010000000000000003"])

    def fake_psql(args, **kw):
        if "pg_stat_archiver" in " ".join(args):
            return subprocess.CompletedProcess(args, 0, next(archive) + "\n", "")
        calls.append((args, kw["input"]))
        return subprocess.CompletedProcess(args, 0, "0/3000090|000000010000000000000003|2026-12-01T09:30:00.1Z\n0/30000A8\n", "")

    monkeypatch.setattr(restore_point, "run_psql", fake_psql)
    assert restore_point.main(["before-deploy"]) == 0
    (args, sql), = calls
    assert "pg_create_restore_point(:'name')" in sql and "pg_switch_wal()" in sql
    assert any(a.startswith("name=before-deploy-") for a in args)
    assert "at 0/3000090 (2026-12-01T09:30:00.1Z), in WAL file 000000010000000000000003" in capsys.readouterr().out
    assert next(archive, None) is None  # it returned once the archive held the point's segment, not before


def test_a_point_the_archive_does_not_receive_fails(monkeypatch, capsys):
    def fake_psql(args, **kw):
        if "pg_stat_archiver" in " ".join(args):
            return subprocess.CompletedProcess(args, 0, "000000010000000000000002\n", "")
        return subprocess.CompletedProcess(args, 0, "0/3000090|000000010000000000000003|2026-12-01T09:30:00.1Z\n", "")

    monkeypatch.setattr(restore_point, "run_psql", fake_psql)
    assert restore_point.main(["before-deploy", "--wait", "0"]) == 1
    assert "is not in the archive after 0 s" in capsys.readouterr().err


def test_the_drill_takes_a_time_or_a_name_not_both(capsys):
    with pytest.raises(SystemExit) as exit_:
        restore_drill.main(["--target-time", "2026-12-01 09:30:00+00", "--target-name", "x"])
    assert exit_.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
