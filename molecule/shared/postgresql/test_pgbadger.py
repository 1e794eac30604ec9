"""pgbadger: the cron job is flock-wrapped, one run at a time, and the report counts the queries that ran."""

import re
import time

LOCK = "/run/lock/bedrock-pgbadger.lock"
JOB = f"flock -n {LOCK} /usr/local/bin/bedrock-pgbadger"


def queries_in_todays_report(host, outdir):
    day = host.check_output("date +%Y/%m/%d")
    report = host.file(f"{outdir}/{day}/index.html")
    if not report.exists:
        return 0
    match = re.search(r'<span class="figure">([\d,]+)</span> <span class="figure-label">Number of queries',
                      report.content_string)
    return int(match.group(1).replace(",", "")) if match else 0


def test_cron_entry_is_flock_wrapped(host):
    cron = host.file("/etc/cron.d/bedrock-pgbadger")
    assert cron.user == "root" and cron.mode == 0o644
    assert f" * * * postgres {JOB}" in cron.content_string


def test_report_counts_the_queries_pgbench_ran(host, setting):
    outdir = setting("pgbadger_output_dir")
    db = setting("postgresql_databases")[0]["name"]
    host.check_output(f"runuser -u postgres -- {JOB}")
    before = queries_in_todays_report(host, outdir)
    host.check_output("runuser -u postgres -- pgbench -i -q -s 1 %s", db)
    host.check_output("runuser -u postgres -- pgbench -n -S -c 4 -t 100 %s", db)
    time.sleep(1)  # let the logging collector flush
    host.check_output(f"runuser -u postgres -- {JOB}")
    assert queries_in_todays_report(host, outdir) - before >= 400


def test_reports_are_readable_by_the_report_group_only(host, setting):
    outdir = host.file(setting("pgbadger_output_dir"))
    assert outdir.group == setting("pgbadger_report_group") and outdir.mode == 0o2750
    index = host.file(setting("pgbadger_output_dir") + "/index.html")
    assert index.exists and index.mode & 0o007 == 0


def test_a_second_run_while_one_runs_exits_at_once(host):
    host.check_output(f"runuser -u postgres -- sh -c 'flock {LOCK} sleep 8 >/dev/null 2>&1 &'")
    time.sleep(0.5)
    started = time.time()
    second = host.run(f"runuser -u postgres -- {JOB}")
    assert second.rc != 0 and time.time() - started < 3
