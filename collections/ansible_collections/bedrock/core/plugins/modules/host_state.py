#!/usr/bin/python
# -*- coding: utf-8 -*-
# Bedrock: everything the roles read from a host before deciding, in one module run (read only).
from __future__ import annotations

DOCUMENTATION = r"""
module: host_state
short_description: Read what Bedrock's roles decide on, in one module run
description:
  - >-
    Reads the kernel's open-file ceilings, /etc/fstab, /proc/mounts and /proc/swaps, lists the installed Debian
    packages, the unit drop-ins in /etc/systemd/system, the accounts and the jobs ansible.builtin.cron keeps in
    crontabs, the kernel settings in the usual /proc/sys folders and the swap files /etc/fstab and /proc/swaps
    name, reads the state of the named systemd units, and finds sysctl files that set net.ipv4.tcp_tw_recycle.
    Changes nothing.
  - >-
    One run instead of one slurp, command or find per role: each module run costs about 0.2 s in a container
    and seconds under TCG.
options:
  units:
    description:
      - >-
        Units (names or glob patterns, as C(systemctl show) takes them) whose state to read. A pattern matches
        loaded units only; a unit that is not read is absent from C(units) in the result.
    type: list
    elements: str
    default: []
author: Bedrock
"""

RETURN = r"""
host:
  description: What was read.
  type: dict
  returned: always
  contains:
    files: {description: "Path -> text of /proc/sys/fs/nr_open, /proc/sys/fs/file-max, /etc/fstab, /proc/mounts, /proc/swaps (empty if absent).", type: dict}
    packages: {description: Names of the installed Debian packages (status ii)., type: list, elements: str}
    tw_recycle_files: {description: "/etc/*.conf and /etc/sysctl.d/*.conf files with a net.ipv4.tcp_tw_recycle line.", type: list, elements: str}
    systemd_dropins: {description: "Drop-in files in /etc/systemd/system/*.d/ (regular files, not links).", type: list, elements: str}
    systemd_dropin_owners:
      description: >-
        Drop-in path -> the role named on a C(# bedrock-owner: <role>) line among its first five lines, for the
        drop-ins that carry one: a role removes only drop-ins it owns, whatever their file names.
      type: dict
    units: {description: "Unit name -> its ActiveState, UnitFileState and LimitNOFILE, for the units asked for.", type: dict}
    users:
      description: >-
        Account name -> uid, gid, home and shell from /etc/passwd, and its /etc/shadow password field only when that
        field holds no hash (C(!), C(*), empty; otherwise C(hash)).
      type: dict
    sysctl:
      description: >-
        Key -> live value (as in /proc/sys, trailing newline removed) of every readable setting directly in the
        folders of C(sysctl_folders).
      type: dict
    sysctl_folders:
      description: >-
        The folders read completely, as dotted prefixes (C(net.ipv4), C(vm), ...): a key directly in one of them
        that C(sysctl) does not list is one this kernel (or this container's namespace) does not show.
      type: list
      elements: str
    swap_files:
      description: >-
        Path -> exists, size, mode (octal string), pw_name and gr_name (as M(ansible.builtin.stat) names them) of every
        swap area /etc/fstab (fstype swap) or /proc/swaps names by an absolute path; for a regular file also
        signature, C(swap) when it carries mkswap's signature (what C(blkid -p -o value -s TYPE) calls swap), else
        empty.
      type: dict
    cron_jobs: {description: "User -> names of the jobs ansible.builtin.cron keeps in their crontab (C(#Ansible: <name>) lines).", type: dict}
    postgresql_ports:
      description: >-
        C(<version>/<cluster>) -> the port a running PostgreSQL cluster listens on, from the postmaster.pid in its data
        directory under /var/lib/postgresql (a changed port takes effect only when the cluster restarts).
      type: dict
"""

import glob
import grp
import os
import pwd
import re
import stat

from ansible.module_utils.basic import AnsibleModule

# The folders Bedrock's sysctl settings live in; each is read whole, not its subfolders.
SYSCTL_FOLDERS = ("fs", "kernel", "net.core", "net.ipv4", "net.ipv4.conf.all", "net.ipv4.conf.default",
                  "net.ipv6.conf.all", "net.ipv6.conf.default", "vm")
# Reading it makes the kernel fold its per-CPU counters: not a setting, and a read that acts.
SYSCTL_SKIPPED = ("vm.stat_refresh",)
UNIT_PROPERTIES = ("ActiveState", "UnitFileState", "LimitNOFILE")
OWNER = re.compile(r"^# bedrock-owner: ([a-z0-9_]+)\s*$", re.M)
FILES = ("/proc/sys/fs/nr_open", "/proc/sys/fs/file-max", "/etc/fstab", "/proc/mounts", "/proc/swaps")
CRON_JOB_NAME = re.compile(r"^#Ansible: (.*)$", re.M)
TW_RECYCLE = re.compile(r"^\s*net\.ipv4\.tcp_tw_recycle", re.M)


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except (FileNotFoundError, PermissionError):
        return ""


def units(module, patterns):
    """{Id: {property: value}} for the loaded units matching patterns (systemctl show: one block per unit)."""
    if not patterns:
        return {}
    rc, out, err = module.run_command(["systemctl", "show", "--property=Id," + ",".join(UNIT_PROPERTIES), "--", *patterns])
    if rc != 0:
        module.fail_json(msg="systemctl show failed: %s" % err.strip())
    found = {}
    for block in out.split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("Id"):
            found[props.pop("Id")] = props
    return found


def sysctl():
    """{dotted key: value} for the regular files directly in SYSCTL_FOLDERS (write-only ones are left out)."""
    values = {}
    for folder in SYSCTL_FOLDERS:
        path = "/proc/sys/" + folder.replace(".", "/")
        try:
            names = os.listdir(path)
        except OSError:
            continue
        for name in names:
            if folder + "." + name in SYSCTL_SKIPPED:
                continue
            try:
                with open(os.path.join(path, name), encoding="utf-8", errors="replace") as fh:
                    values[folder + "." + name] = fh.read().rstrip("\n")
            except OSError:  # a folder, or write-only (vm.drop_caches, vm.compact_memory)
                continue
    return values


def swap_signature(path):
    """mkswap's magic, in the last 10 bytes of the first page (SWAPSPACE2; SWAP-SPACE from old versions)."""
    page = os.sysconf("SC_PAGE_SIZE")
    try:
        with open(path, "rb") as fh:
            fh.seek(page - 10)
            return fh.read(10) in (b"SWAPSPACE2", b"SWAP-SPACE")
    except OSError:
        return False


def swap_files(fstab, swaps):
    """Stat of each swap area named by a path in fstab or /proc/swaps (absent ones: exists false)."""
    paths = {fields[0] for fields in (line.split() for line in fstab.splitlines())
             if len(fields) >= 3 and fields[2] == "swap" and fields[0].startswith("/")}
    paths |= {line.split()[0] for line in swaps.splitlines()[1:] if line.split() and line.startswith("/")}
    found = {}
    for path in sorted(paths):
        try:
            st = os.stat(path)
        except OSError:
            found[path] = {"exists": False}
            continue
        try:
            owner = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            owner = str(st.st_uid)
        try:
            group = grp.getgrgid(st.st_gid).gr_name
        except KeyError:
            group = str(st.st_gid)
        found[path] = {"exists": True, "size": st.st_size, "mode": "%04o" % (st.st_mode & 0o7777), "pw_name": owner,
                       "gr_name": group}
        if stat.S_ISREG(st.st_mode):
            found[path]["signature"] = "swap" if swap_signature(path) else ""
    return found


def postgresql_ports():
    """{"15/main": port} for each cluster whose data directory holds a postmaster.pid (its 4th line is the port)."""
    found = {}
    for path in sorted(glob.glob("/var/lib/postgresql/*/*/postmaster.pid")):
        lines = read(path).splitlines()
        if len(lines) > 3 and lines[3].strip().isdigit():
            found["/".join(path.split("/")[-3:-1])] = int(lines[3])
    return found


def users():
    """Accounts from /etc/passwd; a password field from /etc/shadow only when it holds no hash."""
    accounts = {}
    for line in read("/etc/passwd").splitlines():
        fields = line.split(":")
        if len(fields) >= 7:
            accounts[fields[0]] = {"uid": int(fields[2]), "gid": int(fields[3]), "home": fields[5], "shell": fields[6]}
    for line in read("/etc/shadow").splitlines():
        fields = line.split(":")
        if len(fields) >= 2 and fields[0] in accounts:
            accounts[fields[0]]["password"] = fields[1] if set(fields[1]) <= {"!", "*"} else "hash"
    return accounts


def main():
    module = AnsibleModule(argument_spec={"units": {"type": "list", "elements": "str", "default": []}},
                           supports_check_mode=True)
    rc, out, err = module.run_command(["dpkg-query", "--show", "--showformat=${db:Status-Abbrev} ${Package}\n"])
    if rc != 0:
        module.fail_json(msg="dpkg-query failed: %s" % err.strip())
    packages = [line.split()[1] for line in out.splitlines() if line.startswith("ii ") and len(line.split()) > 1]
    tw_recycle = [path for path in sorted(glob.glob("/etc/*.conf") + glob.glob("/etc/sysctl.d/*.conf"))
                  if TW_RECYCLE.search(read(path))]
    dropins = [path for path in sorted(glob.glob("/etc/systemd/system/*.d/*"))
               if os.path.isfile(path) and not os.path.islink(path)]
    owners = {}
    for path in dropins:
        match = OWNER.search("\n".join(read(path).splitlines()[:5]))
        if match:
            owners[path] = match.group(1)
    cron_jobs = {os.path.basename(path): CRON_JOB_NAME.findall(read(path))
                 for path in sorted(glob.glob("/var/spool/cron/crontabs/*"))}
    files = {path: read(path) for path in FILES}
    module.exit_json(changed=False, host={"files": files, "packages": packages,
                                          "tw_recycle_files": tw_recycle, "systemd_dropins": dropins,
                                          "systemd_dropin_owners": owners,
                                          "units": units(module, module.params["units"]), "users": users(),
                                          "cron_jobs": cron_jobs, "sysctl": sysctl(),
                                          "sysctl_folders": list(SYSCTL_FOLDERS),
                                          "swap_files": swap_files(files["/etc/fstab"], files["/proc/swaps"]),
                                          "postgresql_ports": postgresql_ports()})


if __name__ == "__main__":
    main()
