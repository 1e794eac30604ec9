"""The README's first command, end to end on a container of its default release (Debian 13, PostgreSQL 17):
scripts/sandbox converges site.yml, says how to reach the host and what its kind cannot apply, and a second run
changes nothing."""

import os
import re
import subprocess

from conftest import REPO, launch

NAME = "pytest-sandbox"


def sandbox():
    env = dict(os.environ, BEDROCK_SANDBOX_NAME=NAME, ANSIBLE_NOCOLOR="1")
    return subprocess.run([os.path.join(REPO, "scripts", "sandbox"), "--kind", "container"], capture_output=True,
                          text=True, cwd=REPO, env=env)


def test_sandbox_converges_site_and_a_second_run_changes_nothing():
    launch("destroy", NAME, check=False)
    try:
        first = sandbox()
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
        assert "The sandbox (container, trixie) is converged." in first.stdout
        assert re.search(r"ssh: +ssh -i \S+ -p 22 .* root@\S+", first.stdout)
        assert "swap (swapon is refused inside a container)" in first.stdout
        assert "sysctl vm.swappiness: wants '10'" in first.stdout
        second = sandbox()
        assert second.returncode == 0, second.stdout[-3000:]
        recap = re.search(rf"{NAME}\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", second.stdout)
        assert recap and recap.group(1) == "0", second.stdout[-3000:]
        audit_finds_drift_and_a_run_puts_it_back()
    finally:
        launch("destroy", NAME, check=False)


def audit():
    env = dict(os.environ, BEDROCK_SANDBOX_NAME=NAME)
    return subprocess.run([os.path.join(REPO, "scripts", "audit"), "-i", "inventories/sandbox", "--vault-id",
                           "sandbox@inventories/sandbox/.demo-vault-password"], capture_output=True, text=True,
                          cwd=REPO, env=env)


def audit_finds_drift_and_a_run_puts_it_back():
    clean = audit()
    assert clean.returncode == 0 and "0 drifted setting(s)" in clean.stdout, clean.stdout[-3000:] + clean.stderr[-2000:]
    # By hand: a sysctl, and a postgresql.conf line after Debian's include_dir that beats Bedrock's drop-in.
    # And the firewall's table deleted (everything would answer).
    launch("ssh", NAME, "sysctl -w net.core.somaxconn=1024 && echo 'work_mem = 64MB' >> "
                        "/etc/postgresql/17/main/postgresql.conf && systemctl reload postgresql@17-main "
                        "&& nft delete table inet bedrock")
    drifted = audit()
    assert drifted.returncode == 1, drifted.stdout[-3000:] + drifted.stderr[-2000:]
    assert "net.core.somaxconn: live 1024, wanted 8192" in drifted.stdout, drifted.stdout[-3000:]
    assert "Bedrock's ruleset is not in force" in drifted.stdout, drifted.stdout[-3000:]
    assert "item work_mem = 65536 (/etc/postgresql/17/main/postgresql.conf:" in drifted.stdout, drifted.stdout[-3000:]
    fixed = sandbox()
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert audit().returncode == 0
    assert launch("ssh", NAME, "runuser -u postgres -- psql -X -At -c 'SHOW work_mem'").stdout.strip() == "4MB"
    assert launch("ssh", NAME, "sysctl -n net.core.somaxconn").stdout.strip() == "8192"
    assert "policy drop" in launch("ssh", NAME, "nft list chain inet bedrock input").stdout
