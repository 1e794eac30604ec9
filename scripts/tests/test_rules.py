"""The rule engine behind the pre-flight (bedrock.core.check_rules and bedrock.core.cross_rule_problems), with no
host: each kind of rule refuses what it must and accepts its bounds, messages name the variable, the value and the
rule and never show a secret, and every role's rules (tasks/validate.yml) name only variables its argument_specs types."""

import importlib.machinery
import importlib.util
import os
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from rule_cases import rules

OPTIONS = {
    "n": {"type": "int"}, "flag": {"type": "bool"}, "names": {"type": "list", "elements": "str"},
    "path": {"type": "path"}, "mode": {"type": "str", "choices": ["a", "b"]}, "settings": {"type": "dict"},
    "secret": {"type": "str", "no_log": True},
    "jobs": {"type": "list", "elements": "dict", "options": {"name": {"type": "str", "required": True},
                                                            "minute": {"type": "str"}, "port": {"type": "int"}}},
}
RULES = {
    "n": {"min": 1, "max": 10}, "flag": {}, "names[]": {"format": "pg_name", "unique": True},
    "path": {"format": "absolute_path", "persist": True}, "mode": {}, "settings": {"keys": "pg_setting"},
    "secret": {"format": "word"}, "jobs[].name": {"format": "cron_job_name"}, "jobs[].minute": {"cron": "minute"},
    "jobs[].port": {"port": "listen"},
}
GOOD = {"n": 5, "flag": True, "names": ["app", "app-old"], "path": "/srv/x", "mode": "a", "settings": {"jit": "off"},
        "secret": "s3cr3t", "jobs": [{"name": "nightly", "minute": "*/15", "port": 5499}]}


def problems(**changes):
    return rules.check({**GOOD, **changes}, RULES, OPTIONS)[0]


def test_good_values_pass():
    assert problems() == []


@pytest.mark.parametrize("changes,expected", [
    ({"n": 0}, "n must be between 1 and 10, got 0."),
    ({"n": 11}, "n must be between 1 and 10, got 11."),
    ({"n": "5"}, 'n must be an integer, got "5" (str) (write it without quotes).'),
    ({"n": True}, "n must be an integer, got true (bool)."),
    ({"n": None}, "n must be an integer, got nothing (null)."),
    ({"flag": "yes"}, 'flag must be true or false, got "yes" (str).'),
    ({"names": "app,web"}, 'names must be a list of strings, got "app,web" (str).'),
    ({"names": ["app "]}, 'names[0] must be a PostgreSQL name (1 to 63 letters, digits, _ . or -; no spaces or quotes), got "app ".'),
    ({"names": ["app", "app"]}, 'names[1] must be unique, got "app" twice.'),
    ({"path": "srv"}, 'path must be an absolute path without spaces or quotes, got "srv".'),
    ({"mode": "c"}, 'mode must be one of a, b, got "c".'),
    ({"settings": {"Bad Key": 1}}, 'settings: keys must each be a PostgreSQL setting name (lowercase, e.g. jit), got "Bad Key".'),
    ({"jobs": [{"minute": "5"}]}, "jobs[0].name is required."),
    ({"jobs": [{"name": "x", "hour": "5"}]}, "jobs[0] has unknown keys hour (known: name, minute, port)."),
    ({"jobs": [{"name": "x", "minute": "1 2"}]}, "jobs[0].minute must be a cron minute field"),
    ({"jobs": [{"name": "x", "minute": "60"}]}, "jobs[0].minute must be a cron minute field"),
    ({"jobs": [{"name": "x", "minute": "5-1"}]}, "jobs[0].minute must be a cron minute field"),
    ({"jobs": [{"name": "x", "port": 80}]}, "jobs[0].port must be a port between 1024 and 65535, got 80."),
    ({"jobs": ["x"]}, 'jobs[0] must be a mapping with keys name, minute, port, got "x" (str).'),
])
def test_each_rule_refuses_with_the_variable_value_and_rule(changes, expected):
    found = problems(**changes)
    assert any(p.startswith(expected) for p in found), found


def test_bounds_and_cron_forms_are_accepted():
    for n in (1, 10):
        assert problems(n=n) == []
    for minute in ("0", "59", "*", "*/5", "0-30/10", "5,35"):
        assert problems(jobs=[{"name": "x", "minute": minute}]) == [], minute
    for port in (1024, 65535):
        assert problems(jobs=[{"name": "x", "port": port}]) == []


def test_a_secret_is_never_shown():
    found = problems(secret="has space") + problems(secret=5)
    assert found and all("has space" not in p and "5 (int)" not in p for p in found), found
    assert all("a secret" in p for p in found)
    assert "secret" not in rules.check(GOOD, RULES, OPTIONS)[1]["values"]


def test_a_wrongly_typed_value_gets_one_sentence_not_a_cascade():
    found = problems(jobs="nightly")
    assert found == ['jobs must be a list of mappings, got "nightly" (str).']


def cross(values, ports=(), persist=(), refs=()):
    return {"values": values, "ports": list(ports), "persist": list(persist), "refs": list(refs)}


def test_references_collisions_and_placement():
    checked = {
        "postgresql": cross({"postgresql_users[].name": ["app"], "postgresql_port": [5432]},
                            ports=[["postgresql_port", 5432]]),
        "pgbouncer": cross({}, ports=[["pgbouncer_listen_port", 5432]],
                           refs=[["pgbouncer_auth_users[0]", "ghost", "postgresql_users[].name", []],
                                 ["pgbouncer_auth_users[1]", "app", "postgresql_users[].name", []],
                                 ["pgbouncer_server_port", 5433, "postgresql_port", []]]),
        "fstab": cross({"fstab_tmp_tmpfs": [True], "fstab_enabled": [True]}),
        "backups": cross({}, persist=[["backups_dir", "/tmp/dumps"], ["backups_drill_dir", "/run/drill"],
                                      ["swap_file", "/swapfile"], ["wale_file_dir", "/runaway"]]),
    }
    mounts = "/dev/vda / ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\n"
    found = rules.cross_check(checked, mounts, {"sshd": 22})
    joined = "\n".join(found)
    assert 'pgbouncer_auth_users[0] names "ghost", which is not in postgresql_users[].name (it holds: app).' in found
    assert "pgbouncer_auth_users[1]" not in joined
    assert "pgbouncer_server_port names 5433, which is not in postgresql_port (it holds: 5432)." in found
    assert "pgbouncer_listen_port = 5432 collides with postgresql_port = 5432" in joined
    assert 'backups_dir = "/tmp/dumps" lies on /tmp, a tmpfs (fstab_tmp_tmpfs)' in joined
    assert 'backups_drill_dir = "/run/drill" lies on /run, a tmpfs' in joined
    assert "swap_file" not in joined and "/runaway" not in joined  # on /, and /run is no folder of /runaway
    assert len(found) == 5, found


def test_tmp_is_no_tmpfs_when_the_fstab_role_does_not_make_it_one():
    checked = {"fstab": cross({"fstab_tmp_tmpfs": [False], "fstab_enabled": [True]}),
               "backups": cross({}, persist=[["backups_dir", "/tmp/dumps"]])}
    assert rules.cross_check(checked, "/dev/vda / ext4 rw 0 0\n") == []


def load_role_docs():
    loader = importlib.machinery.SourceFileLoader("role_docs", os.path.join(REPO, "scripts", "role-docs"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("role_docs", loader))
    loader.exec_module(module)
    return module


def test_every_role_rule_names_a_typed_variable_and_every_variable_has_a_rule():
    res = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "role-docs"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout


def test_role_docs_finds_a_missing_and_a_stray_rule(tmp_path):
    """scripts/role-docs --check refuses a variable without a rule, a rule without a variable, and an unknown rule key:
    a role copied with one rule removed, one misspelt and one key unknown."""
    role = tmp_path / "swap"
    (role / "meta").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "tasks").mkdir()
    for name in ("meta/argument_specs.yml", "defaults/main.yml"):
        (role / name).write_text(open(os.path.join(REPO, "roles", "swap", name)).read())
    tasks = yaml.safe_load(open(os.path.join(REPO, "roles", "swap", "tasks", "validate.yml")))
    data = tasks[0]["bedrock.core.check_rules"]["rules"]
    del data["swap_size_mb"]
    data["swap_sise_mb"] = {"min": 16}
    data["swap_file"]["minimum"] = 1
    (role / "tasks" / "validate.yml").write_text(yaml.safe_dump(tasks))
    found = load_role_docs().problems(str(role))
    assert "swap_size_mb has no rule in tasks/validate.yml" in found, found
    assert "tasks/validate.yml: swap_sise_mb names no variable of meta/argument_specs.yml" in found, found
    assert "tasks/validate.yml: swap_file has unknown rule keys minimum" in found, found


def test_the_filesystem_type_of_a_path_is_its_longest_mount():
    mounts = "/dev/sda1 / ext4 rw 0 0\nsrv:/backups /mnt/backups nfs4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n"
    assert rules.mount_type("/mnt/backups/wal", mounts) == "nfs4"
    assert rules.mount_type("/mnt/backupsx", mounts) == "ext4"
    assert rules.mount_type("/var/lib/pgbackrest/", mounts) == "ext4"
    assert rules.mount_type("/x", "") == ""
