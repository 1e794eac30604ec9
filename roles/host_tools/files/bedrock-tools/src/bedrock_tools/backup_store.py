"""Forced command of a database host's key on the backup store: rsync into its own folder, write-only, no
deletes (rrsync -wo -no-del), and `verify NAME.sha256`, which checks the pushed files here with sha256sum.
A stolen database host key can add backups but neither read nor delete the ones already here.

  bedrock-backup-store ROOT     (in authorized_keys: restrict,command="bedrock-backup-store /srv/.../HOST")
"""

import os
import re
import subprocess
import sys

VERIFY = re.compile(r"verify ([A-Za-z0-9_][A-Za-z0-9_.-]*\.dump\.sha256)")


def decide(command):
    """What an SSH_ORIGINAL_COMMAND may do: ("verify", file), ("rsync", None) or ("refuse", None)."""
    verify = VERIFY.fullmatch(command)
    if verify:
        return "verify", verify.group(1)
    if command.startswith("rsync --server "):
        return "rsync", None
    return "refuse", None


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not os.path.isabs(args[0]):
        print("usage: bedrock-backup-store ROOT (an absolute folder; run as an SSH forced command)", file=sys.stderr)
        return 2
    root = args[0]
    command = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    action, name = decide(command)
    if action == "verify":
        return subprocess.run(["sha256sum", "--check", "--strict", "--quiet", name], cwd=root).returncode
    if action == "rsync":
        os.execv("/usr/bin/rrsync", ["rrsync", "-wo", "-no-del", root])
    print(f"bedrock-backup-store: refused command: {command!r}", file=sys.stderr)
    return 1
