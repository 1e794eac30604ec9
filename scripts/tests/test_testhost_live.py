"""Live lifecycle of a container test host: what it can do, and that it leaves the runner as it found it; and a
Debian 13 (trixie) container from its own image.

These boot a real systemd-nspawn container from the cached image (seconds once the image exists).
"""

import json
import os
import subprocess
import time

import pytest

from conftest import launch, runner_state

NAME = "pytest-lifecycle"


def ssh(name, command):
    return launch("ssh", name, command).stdout.strip()


def loop_devices_of(path):
    out = subprocess.run(["losetup", "-j", path], capture_output=True, text=True, check=True).stdout
    return [line.split(":")[0] for line in out.splitlines()]


@pytest.fixture
def clean_runner():
    launch("destroy", NAME, check=False)
    before = runner_state()
    yield before
    launch("destroy", NAME, check=False)


def test_container_lifecycle_is_real_and_leaves_nothing_behind(launcher, clean_runner):
    host = json.loads(launch("create", NAME).stdout)
    assert host["created"] is True
    hdir = launcher.host_dir(NAME)
    disk = os.path.join(hdir, "disk.img")

    # A second create is idempotent: same host, nothing new.
    again = json.loads(launch("create", NAME).stdout)
    assert again["created"] is False and again["address"] == host["address"]

    # systemd is PID 1 and the root filesystem is the host's own loop-mounted ext4 image.
    assert ssh(NAME, "cat /proc/1/comm") == "systemd"
    assert ssh(NAME, "findmnt -n -o FSTYPE /") == "ext4"
    assert loop_devices_of(disk), "the image should be attached to a loop device while the host runs"

    # Remounting / inside touches the guest's mount only, never the runner's root.
    runner_root = subprocess.run(["findmnt", "-n", "-o", "OPTIONS", "/"], capture_output=True, text=True).stdout
    assert "noatime" in ssh(NAME, "mount -o remount,noatime / && findmnt -n -o OPTIONS /")
    assert subprocess.run(["findmnt", "-n", "-o", "OPTIONS", "/"], capture_output=True, text=True).stdout == runner_root

    # net.* sysctls are the guest's own (private network namespace); the runner's value does not move.
    runner_somaxconn = open("/proc/sys/net/core/somaxconn").read()
    assert ssh(NAME, "sysctl -w net.core.somaxconn=12345 >/dev/null && sysctl -n net.core.somaxconn") == "12345"
    assert open("/proc/sys/net/core/somaxconn").read() == runner_somaxconn
    # vm.* is refused in a container: the VM kind is where those are proven.
    assert launch("ssh", NAME, "sysctl -w vm.swappiness=11", check=False).returncode != 0

    # Packages come through the proxy on the bridge; HTTPS works with the runner's CA certificates.
    assert "200" in ssh(NAME, "python3 -c \"import urllib.request as u; print(u.urlopen('https://pypi.org/simple/pip/').status)\"")

    # Reboot: a new boot id, SSH back, the image still mounted.
    boot = ssh(NAME, "cat /proc/sys/kernel/random/boot_id")
    started = time.time()
    launch("reboot", NAME)
    assert ssh(NAME, "cat /proc/sys/kernel/random/boot_id") != boot
    assert time.time() - started < 60

    listed = json.loads(launch("list", "--json").stdout)
    assert any(h["name"] == NAME and h["running"] for h in listed)

    launch("destroy", NAME)
    assert not os.path.exists(hdir)
    assert not loop_devices_of(disk)
    assert NAME not in subprocess.run(["findmnt", "-rn"], capture_output=True, text=True).stdout
    assert not any(h["name"] == NAME for h in json.loads(launch("list", "--json").stdout))
    if not json.loads(launch("list", "--json").stdout):
        assert subprocess.run(["ip", "link", "show", "bedrock0"], capture_output=True).returncode != 0
    assert runner_state() == clean_runner


def test_a_failed_create_removes_what_it_made(launcher, clean_runner):
    # A disk smaller than the image cannot be made: the launcher must clean up, not leave a half host.
    res = launch("create", NAME, "--disk", "64M", check=False)
    assert res.returncode != 0
    assert "creation failed" in res.stderr
    assert not os.path.exists(launcher.host_dir(NAME))
    assert runner_state() == clean_runner


def test_the_cached_image_is_reused(launcher):
    first = launch("image", "--kind", "container").stdout.strip()
    started = time.time()
    assert launch("image", "--kind", "container").stdout.strip() == first
    assert time.time() - started < 5
    recipe = json.load(open(os.path.join(first, "recipe.json")))
    assert recipe["packages"] == sorted(set(launcher.BASE_PACKAGES))


def test_a_trixie_container_runs_debian_13_and_is_told_apart():
    """--distro trixie boots Debian 13 (python3 3.13, systemd as PID 1, SSH); the host remembers its release, and
    creating it again as another release is refused rather than silently reusing it."""
    name = "pytest-trixie"
    launch("destroy", name, check=False)
    try:
        host = json.loads(launch("create", name, "--distro", "trixie").stdout)
        assert host["created"] is True and host["distro"] == "trixie"
        assert ssh(name, ". /etc/os-release && echo $ID $VERSION_ID") == "debian 13"
        assert ssh(name, "python3 -c 'import sys; print(*sys.version_info[:2])'") == "3 13"
        assert ssh(name, "cat /proc/1/comm") == "systemd"
        again = launch("create", name, check=False)
        assert again.returncode != 0 and "exists as a trixie container, not a bookworm container" in again.stderr
        listed = {h["name"]: h for h in json.loads(launch("list", "--json").stdout)}
        assert listed[name]["distro"] == "trixie"
    finally:
        launch("destroy", name, check=False)
