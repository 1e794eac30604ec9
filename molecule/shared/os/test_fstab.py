"""fstab role: noatime,nodiratime live on the listed mount points; tmpfs /tmp with nosuid,nodev and a size."""


def options(host, mount_point):
    return host.check_output("findmnt -n -o OPTIONS %s", mount_point).split(",")


def fstab_options(host, mount_point):
    for line in host.file("/etc/fstab").content_string.splitlines():
        fields = line.split()
        if len(fields) >= 4 and not line.startswith("#") and fields[1] == mount_point:
            return fields[3].split(",")
    raise AssertionError(f"{mount_point} has no line in /etc/fstab")


def test_listed_mount_points_are_noatime_live_and_in_fstab(host, setting):
    for mount_point in setting("fstab", "fstab_noatime_mount_points"):
        live = options(host, mount_point)
        assert "noatime" in live and "nodiratime" in live, (mount_point, live)
        in_fstab = fstab_options(host, mount_point)
        assert {"noatime", "nodiratime"} <= set(in_fstab) and "relatime" not in in_fstab, in_fstab


def test_other_fstab_options_are_kept(host, hostvars):
    if "os_test_data_mount" in hostvars:
        assert {"size=32m", "mode=0755"} <= set(fstab_options(host, hostvars["os_test_data_mount"]))


def test_tmp_is_a_sized_tmpfs_without_suid_or_devices(host, setting):
    assert host.check_output("findmnt -n -o FSTYPE /tmp") == "tmpfs"
    live = options(host, "/tmp")
    assert "nosuid" in live and "nodev" in live, live
    size = setting("fstab", "fstab_tmp_size").lower()
    if not size.endswith("%"):
        factor = {"k": 1, "m": 1024, "g": 1024 * 1024}[size[-1]]
        assert f"size={int(size[:-1]) * factor}k" in live, live
    assert ("noexec" in live) == setting("fstab", "fstab_tmp_noexec")


def test_the_original_fstab_is_backed_up(host, setting):
    backup = host.file(setting("fstab", "fstab_backup_path"))
    assert backup.exists and backup.user == "root"
