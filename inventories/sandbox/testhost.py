#!/usr/bin/env python3
"""Ansible inventory script for the local sandbox host made by scripts/testhost (see scripts/sandbox).

The one host `sandbox` plays every role (groups db, pgbouncer, backup_store). Its connection comes from the
launcher's state, so the inventory follows the host whatever address it got.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.path.join(HERE, "..", "..", "scripts", "testhost")
NAME = os.environ.get("BEDROCK_SANDBOX_NAME", "sandbox")
GROUPS = ("db", "pgbouncer", "backup_store")


def host_vars():
    res = subprocess.run([LAUNCHER, "info", NAME], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        sys.exit(f"no sandbox host: run scripts/sandbox first ({res.stderr.strip()})")
    info = json.loads(res.stdout)
    kind_vars = {}
    if info["kind"] == "container":
        # A container's / is set up by systemd-nspawn and has no fstab line to add noatime to.
        kind_vars["fstab_noatime_mount_points"] = []
    return {
        **kind_vars,
        "ansible_host": info["address"],
        "ansible_port": info["port"],
        "ansible_user": info["user"],
        "ansible_ssh_private_key_file": info["identity_file"],
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        "testhost_kind": info["kind"],
    }


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--host":
        print(json.dumps(host_vars() if sys.argv[2] == NAME else {}))
        return
    inventory = {group: {"hosts": [NAME]} for group in GROUPS}
    inventory["_meta"] = {"hostvars": {NAME: host_vars()}}
    print(json.dumps(inventory))


if __name__ == "__main__":
    main()
