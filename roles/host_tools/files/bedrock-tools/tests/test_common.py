import hashlib
import os
import stat

import pytest

from bedrock_tools import common


def touch(path, text="x"):
    with open(path, "w") as fh:
        fh.write(text)
    return path


def test_dumps_of_keeps_one_database_newest_first(tmp_path):
    for name in ["app-20261101T000000Z.dump", "app-20261102T000000Z.dump", "app-2-20261103T000000Z.dump",
                 "app-20261104T000000Z.dump.sha256", ".app-20261105T000000Z.dump.partial", "app-latest.dump"]:
        touch(tmp_path / name)
    found = [os.path.basename(p) for p in common.dumps_of(str(tmp_path), "app")]
    assert found == ["app-20261102T000000Z.dump", "app-20261101T000000Z.dump"]
    assert [os.path.basename(p) for p in common.dumps_of(str(tmp_path), "app-2")] == ["app-2-20261103T000000Z.dump"]


def test_dump_name_matches_the_pattern_the_readers_use(tmp_path):
    touch(tmp_path / common.dump_name("shop", common.utc_stamp()))
    assert len(common.dumps_of(str(tmp_path), "shop")) == 1


def test_sha256_lines_name_files_relative_to_the_dump_folder(tmp_path):
    partial = tmp_path / ".db-1.dump.partial"
    partial.mkdir()
    files = [touch(partial / "toc.dat", "toc"), touch(partial / "3001.dat.gz", "data")]
    lines = common.sha256_lines("db-1.dump", str(partial), sorted(map(str, files))).splitlines()
    assert lines == [f"{hashlib.sha256(b'data').hexdigest()}  db-1.dump/3001.dat.gz",
                     f"{hashlib.sha256(b'toc').hexdigest()}  db-1.dump/toc.dat"]


def test_verify_sha256_file_accepts_intact_files_and_names_the_broken_one(tmp_path):
    dump = touch(tmp_path / "db-1.dump", "dump")
    sums = tmp_path / "db-1.dump.sha256"
    sums.write_text(common.sha256_lines("db-1.dump", str(dump), [str(dump)]))
    common.verify_sha256_file(str(sums))
    touch(dump, "dumq")
    with pytest.raises(ValueError, match="checksum mismatch: db-1.dump"):
        common.verify_sha256_file(str(sums))
    os.remove(dump)
    with pytest.raises(ValueError, match="missing: db-1.dump"):
        common.verify_sha256_file(str(sums))
    sums.write_text("not a checksum line\n")
    with pytest.raises(ValueError, match="malformed"):
        common.verify_sha256_file(str(sums))
    sums.write_text("")
    with pytest.raises(ValueError, match="lists no file"):
        common.verify_sha256_file(str(sums))


def test_write_atomic_leaves_only_the_new_file_with_its_mode(tmp_path):
    target = tmp_path / "status.json"
    common.write_atomic(str(target), "one\n", 0o640)
    common.write_atomic(str(target), "two\n", 0o640)
    assert target.read_text() == "two\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["status.json"]


def test_try_lock_refuses_a_second_holder(tmp_path):
    path = str(tmp_path / "run.lock")
    first = common.try_lock(path)
    assert first is not None
    assert common.try_lock(path) is None
    first.close()
    again = common.try_lock(path)
    assert again is not None
    again.close()


def test_as_postgres_goes_through_runuser_unless_postgres(monkeypatch):
    import pwd

    for user, expected in [("root", ["runuser", "-u", "postgres", "--", "psql", "-c", "SELECT 1"]),
                           ("postgres", ["psql", "-c", "SELECT 1"])]:
        monkeypatch.setattr(pwd, "getpwuid", lambda uid, user=user: type("pw", (), {"pw_name": user}))
        assert common.as_postgres(["psql", "-c", "SELECT 1"]) == expected


def test_rows_reads_psql_aligned_off_output():
    text = "database|user|cl_waiting|maxwait\napp|app|3|2\npgbouncer|pgbouncer|0|0\n"
    assert common.rows(text) == [{"database": "app", "user": "app", "cl_waiting": "3", "maxwait": "2"},
                                 {"database": "pgbouncer", "user": "pgbouncer", "cl_waiting": "0", "maxwait": "0"}]
    assert common.rows("") == []


def test_iso_and_stamp():
    assert common.iso(0) == "1970-01-01T00:00:00+00:00"
    assert common.iso(None) is None
    assert len(common.utc_stamp()) == len("20261201T010203Z")
