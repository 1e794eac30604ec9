"""pgBackRest's health for cron or a monitoring agent, Nagios-style exit codes:
  0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (a usage error, or pgBackRest cannot be asked).
CRITICAL when `pgbackrest check` fails (archiving or the repository is broken), when the stanza holds no backup,
when the newest backup is older than twice --max-age-hours, or with --verify when `pgbackrest verify` finds a
damaged file; WARNING when the newest backup is older than --max-age-hours. Run as postgres.

  bedrock-pgbackrest-check [--stanza NAME] [--max-age-hours H] [--verify] [--quiet]
"""

import argparse
import subprocess
import sys
import time

from bedrock_tools.common import pgbackrest_backups, version_argument

UNKNOWN = 3


class Parser(argparse.ArgumentParser):
    def error(self, message):  # a usage error is UNKNOWN to a monitoring agent, not 2 (CRITICAL)
        self.print_usage(sys.stderr)
        self.exit(UNKNOWN, f"{self.prog}: error: {message}\n")


def pgbackrest(stanza, *args):
    return subprocess.run(["pgbackrest", f"--stanza={stanza}", *args], capture_output=True, text=True)


def tail(res):
    return " ".join((res.stderr or res.stdout).split())[-300:]


def verdict(stanza, max_age_hours, verify, run=pgbackrest, now=time.time):
    """(exit status, one line)."""
    check = run(stanza, "check")
    if check.returncode != 0:
        return 2, f"CRITICAL - pgbackrest check failed (exit {check.returncode}): {tail(check)}"
    info = run(stanza, "info", "--output=json")
    if info.returncode != 0:
        return UNKNOWN, f"UNKNOWN - pgbackrest info failed (exit {info.returncode}): {tail(info)}"
    backups = pgbackrest_backups(info.stdout)
    if not backups:
        return 2, f"CRITICAL - stanza {stanza} holds no backup"
    newest = backups[-1]
    age_hours = (now() - newest["timestamp"]["stop"]) / 3600
    summary = f"newest backup {newest['label']} ({newest['type']}) {age_hours:.1f} h old"
    if verify:
        checked = run(stanza, "verify")
        if checked.returncode != 0:
            return 2, f"CRITICAL - pgbackrest verify failed (exit {checked.returncode}): {tail(checked)}; {summary}"
        summary += ", verify clean"
    if age_hours > 2 * max_age_hours:
        return 2, f"CRITICAL - {summary} (over twice {max_age_hours} h)"
    if age_hours > max_age_hours:
        return 1, f"WARNING - {summary} (over {max_age_hours} h)"
    return 0, f"OK - archiving checked, {summary}"


def main(argv=None):
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stanza", default="main")
    parser.add_argument("--max-age-hours", type=float, default=26.0)
    parser.add_argument("--verify", action="store_true", help="also run pgbackrest verify (reads the repository)")
    parser.add_argument("--quiet", action="store_true", help="print only when not OK (for cron)")
    version_argument(parser)
    args = parser.parse_args(argv)
    try:
        status, line = verdict(args.stanza, args.max_age_hours, args.verify)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        status, line = UNKNOWN, f"UNKNOWN - {type(exc).__name__}: {exc}"
    if status or not args.quiet:
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
