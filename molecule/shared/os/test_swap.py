"""swap role: the file, its signature and fstab line everywhere; active swap where the kernel allows it (VM)."""


def test_swap_file_is_private_and_sized(host, setting):
    swap_file = host.file(setting("swap", "swap_file"))
    assert swap_file.exists and swap_file.user == "root" and swap_file.mode == 0o600
    assert swap_file.size == setting("swap", "swap_size_mb") * 1024 * 1024
    assert host.check_output("blkid -p -o value -s TYPE %s", swap_file.path) == "swap"


def test_swap_file_is_in_fstab(host, setting):
    lines = [line.split() for line in host.file("/etc/fstab").content_string.splitlines()]
    assert any(f[:3] == [setting("swap", "swap_file"), "none", "swap"] for f in lines if len(f) >= 3)


def test_swap_is_on_where_the_kernel_allows(host, setting, is_vm):
    active = host.check_output("swapon --show=NAME,SIZE --bytes --noheadings")
    if not is_vm:
        assert setting("swap", "swap_file") not in active  # a container cannot swapon; the role says so
        return
    sizes = {line.split()[0]: int(line.split()[1]) for line in active.splitlines()}
    wanted = setting("swap", "swap_size_mb") * 1024 * 1024
    assert setting("swap", "swap_file") in sizes, active
    assert wanted - 65536 <= sizes[setting("swap", "swap_file")] <= wanted
