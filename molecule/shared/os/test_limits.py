"""limits role: pam_limits for login shells, LimitNOFILE/LimitNPROC for systemd services."""

import pytest


def test_login_shell_of_a_listed_user_gets_its_limits(host, setting):
    for entry in setting("limits", "limits_entries"):
        if host.run("id -u %s", entry["domain"]).rc != 0:
            continue
        soft, hard = host.check_output("su - %s -c 'ulimit -Sn; ulimit -Hn'", entry["domain"]).split()
        assert (int(soft), int(hard)) == (entry["nofile_soft"], entry["nofile_hard"]), entry["domain"]
        if "nproc_soft" in entry:
            assert int(host.check_output("su - %s -c 'ulimit -Su'", entry["domain"])) == entry["nproc_soft"]


def test_systemd_units_carry_the_limits(host, setting):
    checked = 0
    for service in setting("limits", "limits_systemd_services"):
        unit = service["name"] + ".service"
        dropin = host.file(f"/etc/systemd/system/{unit}.d/60-bedrock-limits.conf")
        assert dropin.exists and f"LimitNOFILE={service['nofile']}" in dropin.content_string
        if unit.endswith("@.service") or host.run("systemctl cat %s", unit).rc != 0:
            continue  # a template, or a service not installed yet: the drop-in waits for it
        assert host.check_output("systemctl show -p LimitNOFILE --value %s", unit) == str(service["nofile"])
        if "nproc" in service:
            assert host.check_output("systemctl show -p LimitNPROC --value %s", unit) == str(service["nproc"])
        checked += 1
    assert checked, "no listed service is installed: nothing was verified live"


def test_a_service_started_after_the_dropin_runs_with_the_limit(host, setting):
    services = [s for s in setting("limits", "limits_systemd_services") if s["name"] == "cron"]
    if not services:
        pytest.skip("cron is not listed in this scenario")
    host.run("systemctl restart cron")
    pid = host.check_output("systemctl show -p MainPID --value cron")
    limits = host.file(f"/proc/{pid}/limits").content_string
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert line.split()[3:5] == [str(services[0]["nofile"])] * 2, line
