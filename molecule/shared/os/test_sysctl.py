"""sysctl role: the drop-in, the live kernel values, and no tcp_tw_recycle anywhere."""

from conftest import normalized, role_defaults


def expected(hostvars):
    return {**role_defaults("sysctl")["sysctl_defaults"], **hostvars.get("sysctl_overrides", {})}


def test_dropin_holds_every_setting(host, hostvars):
    dropin = host.file("/etc/sysctl.d/60-bedrock.conf")
    assert dropin.mode == 0o644 and dropin.user == "root"
    written = {}
    for line in dropin.content_string.splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            written[key.strip()] = normalized(value)
    assert written == {k: normalized(v) for k, v in expected(hostvars).items()}


def test_kernel_has_the_values(host, hostvars, is_vm):
    """Every key on a VM; on a container the net.* keys its own namespace has (the rest is the runner's)."""
    wanted = {k: v for k, v in expected(hostvars).items() if is_vm or k.startswith("net.")}
    out = host.check_output("sysctl -e" + " %s" * len(wanted), *wanted)
    live = dict(line.split(" = ", 1) for line in out.splitlines())
    if not is_vm:
        wanted = {k: v for k, v in wanted.items() if k in live}
    mismatches = {k: (live.get(k), v) for k, v in wanted.items() if normalized(live.get(k)) != normalized(v)}
    assert not mismatches, f"key: (kernel, wanted) -> {mismatches}"
    assert len(wanted) >= (20 if is_vm else 15)


def test_tcp_tw_recycle_is_set_nowhere(host):
    found = host.run(r"grep -rslE '^\s*net\.ipv4\.tcp_tw_recycle\s*=' /etc/sysctl.conf /etc/sysctl.d/")
    assert found.stdout == "", f"tcp_tw_recycle still in {found.stdout}"
