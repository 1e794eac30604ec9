"""Live checks of the smoke play: values read from the running kernel, mount table and cron."""

import time

MOUNT_POINT = "/srv/bedrock-smoke"


def test_sysctl_values_are_live(host):
    expected = host.ansible.get_variables()["smoke_sysctl"]
    for key, value in expected.items():
        live = " ".join(host.check_output("sysctl -n %s", key).split())
        assert live == " ".join(str(value).split()), f"{key}: kernel has {live!r}, inventory says {value!r}"


def test_tmpfs_is_mounted_with_its_options(host):
    mount = host.mount_point(MOUNT_POINT)
    assert mount.exists
    assert mount.filesystem == "tmpfs"
    options = host.check_output("findmnt -n -o OPTIONS %s", MOUNT_POINT).split(",")
    assert {"nosuid", "nodev", "size=16384k"} <= set(options), options


def test_cron_runs_our_jobs_since_it_started(host):
    """Either the @reboot job recorded this boot, or the minute job fired since cron started."""
    cron = host.service("cron")
    assert cron.is_running and cron.is_enabled
    boot_id = host.file("/proc/sys/kernel/random/boot_id").content_string.strip()
    started = int(host.check_output("systemctl show cron -p ExecMainStartTimestamp --timestamp=unix --value").lstrip("@"))
    deadline = time.time() + 75
    while True:
        marker = host.file("/var/tmp/bedrock-smoke-boot")
        if marker.exists and marker.content_string.strip() == boot_id:
            return
        beat = host.file("/var/tmp/bedrock-smoke-heartbeat")
        if beat.exists and int(beat.content_string.strip() or 0) >= started:
            return
        assert time.time() < deadline, "cron ran neither the @reboot job nor the minute job"
        time.sleep(5)
