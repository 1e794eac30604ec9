import json
import subprocess

import pytest

from bedrock_tools import pgbackrest_check

NOW = 1764554400.0


def runner(answers):
    """A fake pgbackrest: each command's (exit status, stdout), looked up by its first argument."""
    calls = []

    def run(stanza, *args):
        calls.append(args[0])
        rc, out = answers[args[0]]
        return subprocess.CompletedProcess(args, rc, out, "ERROR: [082]: WAL segment was not archived" if rc else "")
    return run, calls


def info(*stops):
    return json.dumps([{"name": "main", "backup": [
        {"label": f"backup-{i}", "type": "full", "timestamp": {"start": stop - 10, "stop": stop}} for i, stop in enumerate(stops)]}])


@pytest.mark.parametrize("age_hours, status, word", [(1, 0, "OK"), (27, 1, "WARNING"), (53, 2, "CRITICAL")])
def test_the_newest_backups_age_decides(age_hours, status, word):
    run, calls = runner({"check": (0, ""), "info": (0, info(NOW - 999999, NOW - age_hours * 3600))})
    got, line = pgbackrest_check.verdict("main", 26, False, run=run, now=lambda: NOW)
    assert (got, line.split()[0]) == (status, word) and "backup-1" in line
    assert calls == ["check", "info"]


def test_a_failing_check_is_critical_and_names_the_error():
    run, calls = runner({"check": (82, "")})
    status, line = pgbackrest_check.verdict("main", 26, False, run=run, now=lambda: NOW)
    assert status == 2 and "not archived" in line and calls == ["check"]


def test_no_backup_is_critical():
    run, _ = runner({"check": (0, ""), "info": (0, json.dumps([{"name": "main", "backup": []}]))})
    assert pgbackrest_check.verdict("main", 26, False, run=run, now=lambda: NOW)[0] == 2


def test_verify_runs_only_when_asked_and_a_damaged_file_is_critical():
    run, calls = runner({"check": (0, ""), "info": (0, info(NOW - 60)), "verify": (1, "")})
    status, line = pgbackrest_check.verdict("main", 26, True, run=run, now=lambda: NOW)
    assert status == 2 and "verify failed" in line and calls == ["check", "info", "verify"]


def test_a_usage_error_is_unknown():
    with pytest.raises(SystemExit) as exc:
        pgbackrest_check.main(["--max-age-hours", "soon"])
    assert exc.value.code == 3
