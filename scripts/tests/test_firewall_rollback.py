"""The firewall's timed rollback, forced: on a container converged by the network layer, the firewall role is run
without the pre-flight (which would refuse it) with an SSH opening that leaves out the runner. The run loads the
ruleset, cannot open a fresh connection, and stops saying so; the previous ruleset comes back within
firewall_rollback_seconds, the host answers again, and nothing else changed (/etc, the live ruleset). Then both
network roles turned off (and on again): the table and the drop-in go, also after a reboot."""

import os
import subprocess
import time

import pytest
import yaml

from conftest import REPO, fresh_target, launch

NAME = "pytest-firewall-rollback"
ROLLBACK_SECONDS = 30


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    for host in fresh_target(tmp_path_factory, NAME, hostvars={"fstab_noatime_mount_points": []}):
        runner = host.ssh_out("echo $SSH_CONNECTION").split()[0]
        res, output = host.play("network.yml", {"firewall_ssh_sources": [runner]})
        assert res.returncode == 0, output[-3000:]
        yield host


def test_a_ruleset_that_cuts_the_run_off_is_rolled_back(target):
    before = (target.etc_checksums(), target.ssh_out("nft list ruleset"))
    forced = target.directory / "cut-off.yml"
    forced.write_text(yaml.safe_dump([{
        "name": "The firewall role alone, with an opening that leaves out the runner",
        "hosts": "all", "gather_facts": False,
        "vars": {"firewall_rollback_seconds": ROLLBACK_SECONDS,
                 "firewall_openings": [{"name": "ssh", "port": 22, "protocol": "tcp", "ipv4": ["192.0.2.0/24"],
                                        "ipv6": [], "why": "forced by the test: the runner is left out"}]},
        "roles": ["firewall"]}]))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    started = time.monotonic()
    res = subprocess.run(["ansible-playbook", "-i", str(target.inventory), str(forced)], capture_output=True,
                         text=True, cwd=REPO, env=env)
    took = time.monotonic() - started
    output = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0, output[-3000:]
    assert "could not reach the host over a fresh SSH connection" in output, output[-3000:]
    assert "put back (rollback after 30 s) and the host answers again" in output, output[-3000:]
    # The run ends once the rollback brought the host back, not after its own longest wait.
    assert took < ROLLBACK_SECONDS + 60, took
    assert (target.etc_checksums(), target.ssh_out("nft list ruleset")) == before
    assert "the previous one is back" in target.ssh_out("journalctl -t bedrock-firewall --no-pager")
    # A run through the pre-flight stages its own ruleset again; the live one is as it was.
    res, output = target.play("network.yml", {"firewall_ssh_sources": [target.ssh_out("echo $SSH_CONNECTION").split()[0]]})
    assert res.returncode == 0, output[-3000:]
    assert target.ssh_out("nft list ruleset") == before[1]


def test_turned_off_the_table_and_the_drop_in_go_now_and_at_boot(target):
    runner = target.ssh_out("echo $SSH_CONNECTION").split()[0]
    res, output = target.play("network.yml", {"firewall_ssh_sources": [runner], "firewall_enabled": False,
                                              "sshd_enabled": False}, vars_file="off.yml")
    assert res.returncode == 0, output[-3000:]
    assert target.ssh("nft list table inet bedrock", check=False).returncode != 0
    assert target.ssh("test -e /etc/ssh/sshd_config.d/00-bedrock.conf", check=False).returncode != 0
    launch("reboot", target.name)
    assert target.ssh("nft list table inet bedrock", check=False).returncode != 0
    # On again: the table and the drop-in are back.
    res, output = target.play("network.yml", {"firewall_ssh_sources": [runner]}, vars_file="on.yml")
    assert res.returncode == 0, output[-3000:]
    assert "policy drop" in target.ssh_out("nft list chain inet bedrock input")
    assert "PasswordAuthentication no" in target.ssh_out("cat /etc/ssh/sshd_config.d/00-bedrock.conf")
