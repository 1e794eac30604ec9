import subprocess
from types import SimpleNamespace

import pytest

from bedrock_tools import saturation

LIMITS = SimpleNamespace(warn=80, crit=95, maxwait_warn=1, maxwait_crit=5)


@pytest.mark.parametrize("pct, waiting, maxwait, expected", [
    (10, 0, 0, (0, "OK")),
    (80, 0, 0, (1, "WARNING")),
    (10, 1, 0, (1, "WARNING")),
    (10, 0, 1, (1, "WARNING")),
    (95, 0, 0, (2, "CRITICAL")),
    (10, 3, 5, (2, "CRITICAL")),
])
def test_verdict(pct, waiting, maxwait, expected):
    assert saturation.verdict(pct, waiting, maxwait, LIMITS) == expected


def test_pools_of_every_process_add_up():
    pools = [{"cl_waiting": "2", "maxwait": "1"}, {"cl_waiting": "0", "maxwait": "0"}, {"cl_waiting": "5", "maxwait": "3"}]
    assert saturation.pool_totals(pools) == (7, 3)
    assert saturation.pool_totals([]) == (0, 0)


def fake_psql(outputs):
    def run_psql(args, database="postgres", header=False, **kw):
        out = outputs.get(database)
        if out is None:
            return subprocess.CompletedProcess(args, 2, "", "could not connect")
        return subprocess.CompletedProcess(args, 0, out, "")
    return run_psql


def test_the_line_and_the_textfile(monkeypatch, tmp_path, capsys):
    (tmp_path / ".s.PGSQL.6432").touch()
    monkeypatch.setattr(saturation, "SOCKET_DIRS", [str(tmp_path)])
    monkeypatch.setattr(saturation, "PEER_SOCKET_DIRS", str(tmp_path / "none-*"))
    monkeypatch.setattr(saturation, "run_psql", fake_psql({
        "postgres": "85 100\n",
        "pgbouncer": "database|user|cl_active|cl_waiting|maxwait|maxwait_us|pool_mode\napp|app|40|2|0|5000|transaction\n"}))
    textfile = tmp_path / "saturation.prom"
    assert saturation.main(["--textfile", str(textfile)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("WARNING: PostgreSQL 85/100 connections (85%); PgBouncer 2 clients waiting, maxwait 0s |")
    assert "bedrock_pg_connections_used 85\n" in textfile.read_text()
    assert "bedrock_pg_saturation_status 1\n" in textfile.read_text()


def test_unknown_when_postgresql_cannot_be_asked_and_on_a_usage_error(monkeypatch, capsys):
    monkeypatch.setattr(saturation, "run_psql", fake_psql({}))
    assert saturation.main([]) == saturation.UNKNOWN
    assert capsys.readouterr().out.startswith("UNKNOWN")
    with pytest.raises(SystemExit) as exit_:
        saturation.main(["--bogus"])
    assert exit_.value.code == saturation.UNKNOWN
