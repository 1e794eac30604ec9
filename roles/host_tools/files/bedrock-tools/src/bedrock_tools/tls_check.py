"""Certificate expiry for cron or a monitoring agent, Nagios-style exit codes:
  0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (a usage error, or a file openssl cannot read).
For each certificate file (the first certificate in it): CRITICAL when it has expired or expires within
--crit-days, WARNING within --warn-days. The worst file decides the exit status. An expired certificate on a
PostgreSQL or PgBouncer that requires TLS refuses every client: this says so weeks before.

  bedrock-tls-check [--warn-days N] [--crit-days N] [--quiet] FILE...
"""

import argparse
import datetime
import subprocess
import sys

from bedrock_tools.common import version_argument

UNKNOWN = 3
WORDS = {0: "OK", 1: "WARNING", 2: "CRITICAL", UNKNOWN: "UNKNOWN"}


class Parser(argparse.ArgumentParser):
    def error(self, message):  # a usage error is UNKNOWN to a monitoring agent, not 2 (CRITICAL)
        self.print_usage(sys.stderr)
        self.exit(UNKNOWN, f"{self.prog}: error: {message}\n")


def not_after(path, run=subprocess.run):
    """The certificate's notAfter as an aware UTC datetime (openssl prints 'notAfter=Nov 30 12:00:00 2027 GMT')."""
    res = run(["openssl", "x509", "-noout", "-enddate", "-in", path], capture_output=True, text=True)
    if res.returncode != 0 or not res.stdout.startswith("notAfter="):
        raise ValueError(" ".join((res.stderr or res.stdout or "no output").split())[-200:])
    text = " ".join(res.stdout.strip().split("=", 1)[1].split())  # openssl pads single-digit days: "Dec  1"
    return datetime.datetime.strptime(text, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=datetime.timezone.utc)


def verdict(days_left, warn_days, crit_days):
    if days_left < crit_days:
        return 2
    if days_left < warn_days:
        return 1
    return 0


def check(paths, warn_days, crit_days, now=None, read=not_after):
    """(exit status, one line per file, worst first)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    results = []
    for path in paths:
        try:
            end = read(path)
        except (OSError, ValueError) as exc:
            results.append((UNKNOWN, f"{path}: cannot read the certificate ({exc})"))
            continue
        days_left = (end - now).total_seconds() / 86400
        state = "expired" if days_left < 0 else f"expires in {days_left:.0f} days"
        results.append((verdict(days_left, warn_days, crit_days), f"{path}: {state} ({end:%Y-%m-%d %H:%M} UTC)"))
    status = max(s for s, _ in results)
    results.sort(key=lambda r: -r[0])
    return status, [f"{WORDS[status]} - {line}" for status, line in results]


def main(argv=None):
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warn-days", type=int, default=30)
    parser.add_argument("--crit-days", type=int, default=7)
    parser.add_argument("--quiet", action="store_true", help="print only when not OK (for cron)")
    parser.add_argument("files", nargs="+", metavar="FILE")
    version_argument(parser)
    args = parser.parse_args(argv)
    status, lines = check(args.files, args.warn_days, args.crit_days)
    if status or not args.quiet:
        print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
