"""The backups layer against one container (database host and its own backup store): check mode on a fresh
host, a converged host that check mode finds unchanged, WAL-E's file store (base backup and point-in-time
restore), the directory dump format, the switch of archiver on the running host, WAL-E to pgBackRest and back, and
pgBackRest's repository on S3 over verified TLS. Its bad inputs are in test_site_bad_input.py."""

import base64
import datetime
import json
import os

import pytest
import yaml

from conftest import DB_HOST_VARS, fresh_target

NAME = "pytest-backups"



@pytest.fixture(scope="module")
def target(tmp_path_factory):
    yield from fresh_target(tmp_path_factory, NAME, ["db", "backup_store"], DB_HOST_VARS)


def test_check_mode_on_a_fresh_host_does_not_fail_or_change_it(target):
    before = target.etc_checksums()
    res, output = target.play("backups.yml", None, "--check", "--diff")
    assert res.returncode == 0 and "failed=0" in output, res.stdout[-3000:]
    assert target.etc_checksums() == before


def test_check_mode_on_the_converged_host_changes_nothing(target):
    for playbook in ("postgresql.yml", "backups.yml"):
        res, _ = target.play(playbook)
        assert res.returncode == 0, res.stdout[-3000:]
    res, output = target.play("backups.yml", None, "--check", "--diff")
    assert res.returncode == 0 and "changed=0" in output and "failed=0" in output, res.stdout[-3000:]
    dump = target.ssh("cd /tmp && runuser -u postgres -- /usr/local/bin/bedrock-pg-dump", check=False)
    assert dump.returncode == 0, dump.stderr


def test_wale_file_store_base_backup_and_point_in_time_restore(target):
    """The file store (the backups scenario tests S3): a base backup on PostgreSQL 15, then the drill's PITR."""
    run = "cd /tmp && runuser -u postgres -- "
    res = target.ssh(run + "flock -n /run/lock/bedrock-wal-e-backup.lock /usr/local/bin/bedrock-wal-e-backup",
                     check=False)
    assert res.returncode == 0, target.ssh_out("tail -20 /var/log/wal-e/wal-e.log")
    assert target.ssh("ls /var/lib/bedrock-wal-e/basebackups_005/*_backup_stop_sentinel.json", check=False).returncode == 0
    # The role makes the heartbeat table only with its database; the heartbeat makes it again if it is gone.
    target.ssh(run + "psql -X -q -d bedrock -c 'DROP TABLE heartbeat'")
    target.ssh(run + "/usr/local/bin/bedrock-heartbeat")
    assert target.ssh_out(run + "psql -X -At -d bedrock -c 'SELECT count(*) FROM heartbeat'") == "1"
    target.ssh(run + "psql -X -q -c 'SELECT pg_switch_wal()'")
    drill = target.ssh(run + "/usr/local/bin/bedrock-restore-drill --skip-dump", check=False)
    assert drill.returncode == 0 and "PASS" in drill.stdout, drill.stdout + drill.stderr[-2000:]


def test_directory_format_dumps_in_parallel_and_restores(target):
    """backups_format directory (pg_dump -Fd -j N): checksummed file by file, restored with pg_restore -j."""
    config = json.loads(target.ssh_out("cat /etc/bedrock/backups.json"))
    config.update(format="directory", jobs=2, store=None, directory="/var/tmp/fd-dumps",
                  status_file="/var/tmp/fd-status.json")
    encoded = base64.b64encode(json.dumps(config).encode()).decode()
    target.ssh(f"install -d -o postgres -m 0700 /var/tmp/fd-dumps && echo {encoded} | base64 -d > /var/tmp/fd.json "
               "&& chmod 644 /var/tmp/fd.json")
    run = "cd /tmp && runuser -u postgres -- "
    dump = target.ssh(run + "/usr/local/bin/bedrock-pg-dump --config /var/tmp/fd.json", check=False)
    assert dump.returncode == 0, dump.stderr
    name = target.ssh_out("ls /var/tmp/fd-dumps | grep -E '^appdb-[0-9TZ]+\\.dump$'")
    assert target.ssh_out(f"test -d /var/tmp/fd-dumps/{name} && ls /var/tmp/fd-dumps/{name}").count("toc.dat") == 1
    assert target.ssh(f"cd /var/tmp/fd-dumps && sha256sum --check --strict {name}.sha256", check=False).returncode == 0
    drill = target.ssh(run + "/usr/local/bin/bedrock-restore-drill --skip-pitr --config /var/tmp/fd.json", check=False)
    assert drill.returncode == 0 and "PASS" in drill.stdout, drill.stdout + drill.stderr[-2000:]
    target.ssh("rm -rf /var/tmp/fd-dumps /var/tmp/fd.json /var/tmp/fd-status.json")


def test_one_database_restored_from_its_dump_beside_the_live_one(target):
    """restore-dump.yml after an accident (rows deleted after the dump): a new database <db>_restored_<UTC> holds
    every row as at dump time, its tables owned by the inventory's owner (not by who made them), the live database
    untouched; a database the inventory does not name is refused and nothing is created."""
    psql = RUN + "psql -X -q -At -d appdb "
    target.ssh(psql + "-c 'CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY)'"
               " -c 'INSERT INTO orders SELECT generate_series(1, 500) ON CONFLICT DO NOTHING'")
    assert target.ssh(RUN + "/usr/local/bin/bedrock-pg-dump", check=False).returncode == 0
    target.ssh(psql + "-c 'DELETE FROM orders WHERE id > 100'")
    restored = RUN + "psql -XAt -c \"SELECT datname FROM pg_database WHERE datname LIKE 'appdb_restored_%'\""
    res, output = target.play("restore-dump.yml", {"restore_dump_database": "nosuchdb"})
    assert res.returncode != 0 and ('restore_dump_database must name a database of the inventory\'s '
                                    'postgresql_databases (appdb), got "nosuchdb"') in output, output[-2000:]
    assert target.ssh_out(restored) == ""
    res, output = target.play("restore-dump.yml", {"restore_dump_database": "appdb"})
    assert res.returncode == 0 and "To swap the names" in output, output[-3000:]
    (name,) = target.ssh_out(restored).split()
    # The swap statements name the restored database and the live one.
    assert f'{name}\\" RENAME TO \\"appdb' in output, output[-2000:]
    assert target.ssh_out(RUN + f"psql -X -At -d {name} -c 'SELECT count(*) FROM orders'") == "500"
    assert target.ssh_out(RUN + f"psql -X -At -d {name} -c \"SELECT tableowner FROM pg_tables WHERE tablename = 'orders'\"") == "app"
    assert target.ssh_out(psql + "-c 'SELECT count(*) FROM orders'") == "100"
    target.ssh(RUN + f"dropdb {name}")


# This host is also its own backup store: pgBackRest's repository is a folder here (no other repository host).
PGBACKREST = {"backups_archiver": "pgbackrest", "pgbackrest_cipher_pass": "test-only-repository-passphrase",
              "pgbackrest_repo_on_database_disk": True}
RUN = "cd /tmp && runuser -u postgres -- "


def wale_segments(target):
    """The WAL segments in WAL-E's file store (names without the compression suffix)."""
    return sorted(n.split(".")[0] for n in target.ssh_out("ls /var/lib/bedrock-wal-e/wal_005").split()
                  if len(n.split(".")[0]) == 24)


def pgbackrest_segments(target):
    out = target.ssh_out("find /var/lib/pgbackrest/archive/main -type f -name '0*' -printf '%f\\n'")
    return sorted(n[:24] for n in out.split())


def next_segment(name):
    timeline, log, seg = int(name[:8], 16), int(name[8:16], 16), int(name[16:], 16)
    return f"{timeline:08X}{log:08X}{seg + 1:08X}" if seg < 0xFF else f"{timeline:08X}{log + 1:08X}{0:08X}"


def write_and_archive(target, n=3):
    for _ in range(n):
        target.ssh(RUN + "psql -X -q -d bedrock -c 'INSERT INTO heartbeat VALUES (1, now()) ON CONFLICT (id) DO UPDATE "
                   "SET beat = excluded.beat' -c 'SELECT pg_switch_wal()'")


def test_switching_archiver_on_the_running_host_leaves_no_gap(target):
    """WAL-E -> pgBackRest -> WAL-E on the converged host: each switch says what it will do, moves archive_command in
    one reload (no restart), takes the new archiver's full backup in the same run and only then drops the old one's
    schedule; the old archive is left as it was; the segments continue across the switch without a gap; the drill
    restores from the new archiver at once; the next run changes nothing."""
    started = target.ssh_out(RUN + "psql -XAt -c 'SELECT pg_postmaster_start_time()'")
    write_and_archive(target)
    wale_before = wale_segments(target)
    res, output = target.play("backups.yml", PGBACKREST)
    assert res.returncode == 0, output[-3000:]
    assert "This run moves archiving to pgbackrest in one reload" in output
    assert target.ssh("test -e /etc/postgresql/15/main/conf.d/70-bedrock-wal-e.conf", check=False).returncode != 0
    assert target.ssh("test -e /etc/cron.d/bedrock-wal-e", check=False).returncode != 0
    assert target.ssh("test -e /etc/cron.d/bedrock-pgbackrest", check=False).returncode == 0
    write_and_archive(target)
    wale_after = wale_segments(target)
    # WAL-E's archive is left as it was, holding everything up to the switch; pgBackRest's continues from there.
    assert set(wale_before) <= set(wale_after)
    first_new = pgbackrest_segments(target)[0]
    assert first_new <= next_segment(wale_after[-1]), (wale_after[-3:], first_new)
    assert target.ssh_out(RUN + "psql -XAt -c 'SELECT pg_postmaster_start_time()'") == started
    drill = target.ssh(RUN + "/usr/local/bin/bedrock-restore-drill --skip-dump --json", check=False)
    assert drill.returncode == 0 and json.loads(drill.stdout)["pitr"]["archiver"] == "pgbackrest", drill.stdout[-2000:]
    res, output = target.play("backups.yml", PGBACKREST)
    assert res.returncode == 0 and "changed=0" in output, output[-3000:]

    # And back: pgBackRest's repository stays, WAL-E takes a base backup at once.
    pgbackrest_before = pgbackrest_segments(target)
    res, output = target.play("backups.yml")
    assert res.returncode == 0, output[-3000:]
    assert "This run moves archiving to wal-e in one reload" in output
    assert target.ssh("test -e /etc/cron.d/bedrock-pgbackrest", check=False).returncode != 0
    write_and_archive(target)
    assert set(pgbackrest_before) <= set(pgbackrest_segments(target))
    resumed = [s for s in wale_segments(target) if s > wale_after[-1]]
    assert resumed and resumed[0] <= next_segment(pgbackrest_segments(target)[-1]), (resumed[:3], pgbackrest_segments(target)[-3:])
    drill = target.ssh(RUN + "/usr/local/bin/bedrock-restore-drill --skip-dump --json", check=False)
    assert drill.returncode == 0 and json.loads(drill.stdout)["pitr"]["archiver"] == "wal-e", drill.stdout[-2000:]
    assert target.ssh_out(RUN + "psql -XAt -c 'SELECT pg_postmaster_start_time()'") == started


# Test-only: an S3-compatible store on the container itself (moto, as in the backups scenario), behind nginx for
# TLS: moto's own TLS (werkzeug's development server) ends responses without a TLS close, which pgBackRest (OpenSSL 3)
# takes for a failed request and retries (measured). The certificate names S3_NAME, signed by a CA made here.
S3_NAME = "s3.bedrock.test"
S3_PORT = 9443
MOTO_REQUIREMENTS = os.path.join(os.path.dirname(__file__), "..", "..", "molecule", "shared", "backups",
                                 "moto-requirements.txt")


def tls_certificates(name):
    """(CA certificate, server certificate, server key) as PEM text: a CA valid for two days and a certificate for
    `name` signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, key, issuer, issuer_key, extensions):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=2)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bedrock test CA")])
    ca = certificate(ca_name, ca_key, ca_name, ca_key, [(x509.BasicConstraints(ca=True, path_length=0), True)])
    server = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key, ca_name, ca_key,
                         [(x509.SubjectAlternativeName([x509.DNSName(name)]), False)])
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return ca, server, key_pem


def put_file(target, path, text, mode):
    encoded = base64.b64encode(text.encode()).decode()
    target.ssh(f"install -d {os.path.dirname(path)} && echo {encoded} | base64 -d > {path} && chmod {mode} {path}")


def s3_store_over_tls(target):
    """Starts the test store with a bucket; returns the CA certificate that signed its certificate."""
    ca, cert, key = tls_certificates(S3_NAME)
    put_file(target, "/etc/bedrock-test-s3/cert.pem", cert, "0644")
    put_file(target, "/etc/bedrock-test-s3/key.pem", key, "0600")
    with open(MOTO_REQUIREMENTS, encoding="utf-8") as requirements:
        put_file(target, "/opt/moto-requirements.txt", requirements.read(), "0644")
    put_file(target, "/etc/nginx/sites-enabled/bedrock-test-s3", f"""server {{
  listen 127.0.0.1:{S3_PORT} ssl;
  server_name {S3_NAME};
  ssl_certificate /etc/bedrock-test-s3/cert.pem;
  ssl_certificate_key /etc/bedrock-test-s3/key.pem;
  client_max_body_size 0;
  location / {{
    proxy_pass http://127.0.0.1:5000;
    proxy_set_header Host $http_host;
    proxy_request_buffering off;
  }}
}}
""", "0644")
    target.ssh("DEBIAN_FRONTEND=noninteractive apt-get -qq install -y python3-venv nginx-light curl >/dev/null"
               " && python3 -m venv /opt/moto-test && /opt/moto-test/bin/pip -q install -r /opt/moto-requirements.txt"
               # The bucket is the path's first part, not the host name's (path-style addressing).
               " && systemd-run --unit bedrock-test-moto -E S3_IGNORE_SUBDOMAIN_BUCKETNAME=true"
               " /opt/moto-test/bin/moto_server -H 127.0.0.1 -p 5000"
               f" && echo '127.0.0.1 {S3_NAME}' >> /etc/hosts && systemctl restart nginx")
    put_file(target, "/etc/bedrock-test-s3/ca.pem", ca, "0644")
    target.ssh("for i in $(seq 1 60); do curl --noproxy '*' -sf --cacert /etc/bedrock-test-s3/ca.pem -X PUT"
               f" https://{S3_NAME}:{S3_PORT}/bedrock-pgbackrest && exit 0; sleep 1; done; exit 1")
    return ca


def s3_keys(target, prefix):
    listing = target.ssh_out("curl --noproxy '*' -sf --cacert /etc/bedrock-test-s3/ca.pem"
                             f" 'https://{S3_NAME}:{S3_PORT}/bedrock-pgbackrest?list-type=2&prefix={prefix}'")
    return [part.split("</Key>")[0] for part in listing.split("<Key>")[1:]]


def test_pgbackrest_repository_on_s3_over_verified_tls(target):
    """pgbackrest_repo_type s3, moving from WAL-E on the running host: the configuration keeps the keys private, the
    stanza, the archived WAL and the first full backup land in the bucket (over HTTPS, the store's certificate
    verified against the CA from the inventory; the system's CAs alone are refused), the health check and the drill
    pass from the bucket, and the next run changes nothing."""
    ca = s3_store_over_tls(target)
    s3 = {"backups_archiver": "pgbackrest", "pgbackrest_cipher_pass": "test-only-repository-passphrase",
          "pgbackrest_repo_type": "s3", "pgbackrest_repo_path": "/db", "pgbackrest_repo_s3_bucket": "bedrock-pgbackrest",
          "pgbackrest_repo_s3_endpoint": S3_NAME, "pgbackrest_repo_s3_port": S3_PORT,
          "pgbackrest_repo_s3_uri_style": "path", "pgbackrest_repo_s3_key": "test-only-key-id",
          "pgbackrest_repo_s3_key_secret": "test-only-secret", "pgbackrest_repo_s3_ca_cert": ca}
    res, output = target.play("backups.yml", s3)
    assert res.returncode == 0, output[-3000:]
    assert "test-only-secret" not in output
    assert target.ssh_out("stat -c '%U:%G %a' /etc/pgbackrest/pgbackrest.conf") == "root:postgres 640"
    info = json.loads(target.ssh_out(RUN + "pgbackrest --stanza=main info --output=json"))[0]
    assert info["status"]["code"] == 0 and [b["type"] for b in info["backup"]] == ["full"], info
    assert any(key.startswith("db/backup/main/") and key.endswith("backup.manifest") for key in s3_keys(target, "db/backup/"))
    segment = target.ssh_out(RUN + "psql -XAt -c 'SELECT pg_walfile_name(pg_current_wal_lsn())'")
    write_and_archive(target, 1)
    assert any(segment in key for key in s3_keys(target, "db/archive/main/")), s3_keys(target, "db/archive/main/")[-3:]
    check = target.ssh(RUN + "/usr/local/bin/bedrock-pgbackrest-check --stanza=main", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    # Verification is on: with only the system's CAs, the same store is refused.
    untrusted = target.ssh(RUN + "pgbackrest --stanza=main --repo1-storage-ca-file=/etc/ssl/certs/ca-certificates.crt"
                           " check", check=False)
    assert untrusted.returncode != 0 and "unable to verify certificate" in untrusted.stdout + untrusted.stderr, (
        untrusted.stdout + untrusted.stderr)[-1500:]
    drill = target.ssh(RUN + "/usr/local/bin/bedrock-restore-drill --skip-dump --json", check=False)
    assert drill.returncode == 0 and json.loads(drill.stdout)["pitr"]["archiver"] == "pgbackrest", drill.stdout[-2000:]
    res, output = target.play("backups.yml", s3)
    assert res.returncode == 0 and "changed=0" in output, output[-3000:]


def test_the_drill_restores_to_a_named_restore_point(target):
    """bedrock-restore-point before-test returns once the point's WAL is in the archive (pgBackRest in S3 here), so
    the drill run at once restores to it: the heartbeat written before the point is there, the one written after it
    is not. A name the archive does not hold fails the drill."""
    beat = RUN + ("psql -X -q -At -d bedrock -c 'INSERT INTO heartbeat VALUES (1, now()) ON CONFLICT (id) DO UPDATE "
                  "SET beat = excluded.beat RETURNING extract(epoch FROM beat)'")
    before = float(target.ssh_out(beat))
    point = json.loads(target.ssh_out(RUN + "/usr/local/bin/bedrock-restore-point before-test --json"))
    assert point["name"].startswith("before-test-") and len(point["name"]) == len("before-test-") + 16, point
    created = datetime.datetime.fromisoformat(point["created"].replace("Z", "+00:00")).timestamp()
    target.ssh("sleep 1")
    after = float(target.ssh_out(beat))
    assert before < created < after
    drill = target.ssh(RUN + f"/usr/local/bin/bedrock-restore-drill --skip-dump --json --target-name {point['name']}",
                       check=False)
    assert drill.returncode == 0, drill.stdout[-2000:] + drill.stderr[-2000:]
    pitr = json.loads(drill.stdout)["pitr"]
    assert pitr["recovery_target_name"] == point["name"]
    assert before - 0.01 <= pitr["newest_heartbeat_restored_epoch"] < created, (before, pitr, created)
    # A name the archive does not hold is not silently replayed to the end.
    drill = target.ssh(RUN + "/usr/local/bin/bedrock-restore-drill --skip-dump --json --target-name no-such-point",
                       check=False)
    assert drill.returncode == 1 and "point-in-time restore failed" in drill.stdout, drill.stdout[-2000:]


def test_two_database_hosts_writing_into_one_stanza_are_refused(target):
    """Two database hosts with one repository host and the default stanza: the pre-flight refuses, naming both and
    the stanza; with a stanza each it accepts. (The container plays both database hosts and the store under three
    inventory names.)"""
    inventory = yaml.safe_load(target.inventory.read_text())
    host = inventory["all"]["hosts"][target.name]
    connection = {k: v for k, v in host.items() if k.startswith("ansible_")}
    pgbackrest = {"backups_archiver": "pgbackrest", "pgbackrest_cipher_pass": "test-only-repository-passphrase"}

    def aliases(second_stanza):
        path = target.directory / "two-databases.yml"
        path.write_text(yaml.safe_dump({"all": {
            "hosts": {"db-a": host, "db-b": dict(host, **second_stanza), "store-a": dict(connection, fstab_noatime_mount_points=[])},
            "children": {"db": {"hosts": {"db-a": None, "db-b": None}}, "backup_store": {"hosts": {"store-a": None}}}}}))
        return target.play("preflight.yml", pgbackrest, inventory=path)

    res, output = aliases({})
    assert res.returncode != 0, output[-3000:]
    assert ('db-a and db-b would both write into the stanza "main" on the repository host store-a' in output
            and "Give each database host its own pgbackrest_stanza" in output), output[-3000:]
    res, output = aliases({"pgbackrest_stanza": "db_b"})
    assert res.returncode == 0, output[-3000:]
