"""The OS layer against one container, run by run: bad input is refused before anything on the host changes
(with a message that names the variable and the rule; /etc checksummed before and after), check mode works
on a fresh and a converged host, and what the roles promise on change: drift put back, tcp_tw_recycle removed
from other files, stale drop-ins removed, swap resized and removed."""

import pytest

from conftest import fresh_target

NAME = "pytest-bad-input"



@pytest.fixture(scope="module")
def target(tmp_path_factory):
    # / in a container has no fstab line; the noatime rule is tested through a missing mount point.
    yield from fresh_target(tmp_path_factory, NAME, (), {"fstab_noatime_mount_points": []})


def os_layer(target, *args, extra_vars=None):
    return target.play("os.yml", extra_vars, *args)


def test_check_mode_on_a_fresh_host_does_not_fail(target):
    before = target.etc_checksums()
    res, output = os_layer(target, "--check", "--diff")
    assert res.returncode == 0 and "failed=0" in output, res.stdout[-3000:]
    assert target.etc_checksums() == before, "check mode changed /etc"


def test_check_mode_on_a_converged_host_changes_nothing(target):
    res, output = os_layer(target)
    assert res.returncode == 0, res.stdout[-3000:]
    res, output = os_layer(target, "--check", "--diff")
    assert res.returncode == 0 and "changed=0" in output and "failed=0" in output, res.stdout[-3000:]


def test_live_drift_is_put_back(target):
    target.ssh_out("sysctl -w net.core.somaxconn=1234")
    res, output = os_layer(target)
    assert res.returncode == 0, res.stdout[-3000:]
    assert target.ssh_out("sysctl -n net.core.somaxconn") == "8192"


def test_tcp_tw_recycle_is_removed_from_other_files(target):
    target.ssh_out("printf 'net.ipv4.tcp_tw_recycle = 1\\nnet.ipv4.tcp_fin_timeout = 30\\n' > /etc/sysctl.d/99-legacy.conf")
    res, _ = os_layer(target)
    assert res.returncode == 0, res.stdout[-3000:]
    assert target.ssh_out("cat /etc/sysctl.d/99-legacy.conf") == "net.ipv4.tcp_fin_timeout = 30"


def test_a_service_dropped_from_the_list_loses_its_dropin(target):
    cron = "/etc/systemd/system/cron.service.d/60-bedrock-limits.conf"
    res, _ = os_layer(target, extra_vars={"limits_systemd_services": [{"name": "cron", "nofile": 4096}]})
    assert res.returncode == 0 and target.ssh_out(f"cat {cron}").endswith("LimitNOFILE=4096")
    assert target.ssh_out("systemctl show -p LimitNOFILE --value cron") == "4096"
    res, _ = os_layer(target, extra_vars={"limits_systemd_services": [{"name": "ssh", "nofile": 4096}]})
    assert res.returncode == 0
    assert target.ssh(f"test -e {cron}", check=False).returncode != 0
    assert target.ssh_out("systemctl show -p LimitNOFILE --value ssh") == "4096"


def test_the_limits_role_removes_only_the_drop_ins_it_owns(target):
    # One owner per file, by what the file says, not by its name: a drop-in of another owner stays even under the
    # limits role's own file name; one the limits role wrote (owner line, or its name from before the owner line)
    # goes once its service leaves the list, even under another file name.
    d = "/etc/systemd/system"
    files = {f"{d}/dbus.service.d/60-bedrock-limits.conf": "# bedrock-owner: pgbouncer\n[Service]\nLimitNOFILE=5000\n",
             f"{d}/cron.service.d/70-old-name.conf": "# x\n# bedrock-owner: limits\n[Service]\nLimitNOFILE=5000\n",
             f"{d}/ssh.service.d/60-bedrock-limits.conf": "# written before the owner line\n[Service]\nLimitNOFILE=5000\n"}
    for path, text in files.items():
        target.ssh_out(f"mkdir -p {path.rsplit('/', 1)[0]} && printf '{text}' > {path}")
    res, _ = os_layer(target)
    assert res.returncode == 0, res.stdout[-3000:]
    left = {path for path in files if target.ssh(f"test -e {path}", check=False).returncode == 0}
    assert left == {f"{d}/dbus.service.d/60-bedrock-limits.conf"}, left
    target.ssh_out(f"rm -r {d}/dbus.service.d && systemctl daemon-reload")


def test_the_limits_role_refuses_pgbouncer_s_units(target):
    before = target.etc_checksums()
    res, output = os_layer(target, extra_vars={"limits_systemd_services": [{"name": "bedrock-pgbouncer@", "nofile": 4096}]})
    assert res.returncode != 0
    assert "limits_systemd_services names bedrock-pgbouncer@: the pgbouncer role owns that service's limits" in output
    assert target.etc_checksums() == before


def test_swap_file_is_resized_then_removed_cleanly(target):
    res, _ = os_layer(target, extra_vars={"swap_size_mb": 48})
    assert res.returncode == 0, res.stdout[-3000:]
    assert target.ssh_out("stat -c %s /swapfile") == str(48 * 1024 * 1024)
    assert target.ssh_out("blkid -p -o value -s TYPE /swapfile") == "swap"
    res, _ = os_layer(target, extra_vars={"swap_enabled": False})
    assert res.returncode == 0, res.stdout[-3000:]
    assert target.ssh("test -e /swapfile", check=False).returncode != 0
    assert "/swapfile" not in target.ssh_out("cat /etc/fstab")
