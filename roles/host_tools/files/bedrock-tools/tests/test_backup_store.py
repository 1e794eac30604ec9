import pytest

from bedrock_tools import backup_store


@pytest.mark.parametrize("command, expected", [
    ("verify app-20261101T000000Z.dump.sha256", ("verify", "app-20261101T000000Z.dump.sha256")),
    ("rsync --server -tre.iLsfxCIvu . .", ("rsync", None)),
    ("verify ../db2/app-20261101T000000Z.dump.sha256", ("refuse", None)),
    ("verify app.dump.sha256; rm -rf /", ("refuse", None)),
    ("verify .hidden.dump.sha256", ("refuse", None)),
    ("verify app.dump", ("refuse", None)),
    ("rsync --sender --server . .", ("refuse", None)),
    ("sh -c id", ("refuse", None)),
    ("", ("refuse", None)),
])
def test_only_rsync_into_the_folder_and_verify_are_allowed(command, expected):
    assert backup_store.decide(command) == expected


def test_a_refused_command_exits_1_and_says_so(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SSH_ORIGINAL_COMMAND", "cat /etc/shadow")
    assert backup_store.main([str(tmp_path)]) == 1
    assert "refused command: 'cat /etc/shadow'" in capsys.readouterr().err


def test_verify_runs_sha256sum_in_the_hosts_folder(monkeypatch, tmp_path):
    (tmp_path / "a.dump").write_text("x")
    import hashlib
    (tmp_path / "a.dump.sha256").write_text(f"{hashlib.sha256(b'x').hexdigest()}  a.dump\n")
    monkeypatch.setenv("SSH_ORIGINAL_COMMAND", "verify a.dump.sha256")
    assert backup_store.main([str(tmp_path)]) == 0
    (tmp_path / "a.dump").write_text("y")
    assert backup_store.main([str(tmp_path)]) != 0


def test_the_root_must_be_absolute(capsys):
    assert backup_store.main(["relative"]) == 2
    assert backup_store.main([]) == 2
