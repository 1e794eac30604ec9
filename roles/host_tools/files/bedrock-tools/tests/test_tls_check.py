import datetime
import shutil
import subprocess

import pytest

from bedrock_tools import tls_check

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A real certificate made by openssl, valid 40 days from now."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(folder / "k.pem"), "-out", str(folder / "c.pem"), "-days", "40", "-subj", "/CN=db"],
                   check=True, capture_output=True)
    return str(folder / "c.pem")


def test_openssls_end_date_is_read(certificate):
    left = tls_check.not_after(certificate) - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=39, hours=23) < left <= datetime.timedelta(days=40)


@pytest.mark.parametrize("days, status, word", [(40, 0, "OK"), (20, 1, "WARNING"), (3, 2, "CRITICAL"),
                                               (-1, 2, "CRITICAL")])
def test_days_left_decide(days, status, word):
    got, lines = tls_check.check(["server.crt"], 30, 7, now=NOW, read=lambda p: NOW + datetime.timedelta(days=days))
    assert got == status and lines[0].startswith(word + " - server.crt")
    assert ("expired" in lines[0]) == (days < 0)


def test_the_worst_file_decides_and_comes_first():
    ends = {"a.crt": NOW + datetime.timedelta(days=90), "b.crt": NOW + datetime.timedelta(days=10)}
    status, lines = tls_check.check(["a.crt", "b.crt"], 30, 7, now=NOW, read=ends.__getitem__)
    assert status == 1 and lines[0].startswith("WARNING - b.crt") and lines[1].startswith("OK - a.crt")


def test_an_unreadable_file_is_unknown(tmp_path):
    bad = tmp_path / "bad.crt"
    bad.write_text("not a certificate\n")
    status, lines = tls_check.check([str(bad), str(tmp_path / "missing.crt")], 30, 7)
    assert status == tls_check.UNKNOWN and all(line.startswith("UNKNOWN") for line in lines)


def test_quiet_prints_nothing_when_ok(certificate, capsys):
    assert tls_check.main(["--quiet", certificate]) == 0 and capsys.readouterr().out == ""
    assert tls_check.main(["--warn-days", "60", "--quiet", certificate]) == 1
    assert capsys.readouterr().out.startswith("WARNING - ")
