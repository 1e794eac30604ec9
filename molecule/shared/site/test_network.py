"""The network layer, live, from the other hosts on the bridge: each port a host listens on answers exactly whom
the firewall opens it to (the application host reaches PgBouncer, the database host the store's SSH, the store the
database host's SSH only with pgBackRest, the runner SSH only); SSH takes keys only, with the cryptography chosen for its OpenSSH; the
ruleset is the one loaded at boot. Runs after the converge and again after the reboot."""

import os
import socket

import pytest
import testinfra

# Who reaches which port of whom: (from, to) -> ports that answer. Every other port the target listens on (from
# its ss -ltn) must not answer. Hosts of molecule/site/hosts.yml; "runner" is this process.
ANSWERS = {
    ("app", "db"): {6432},
    ("store", "db"): set(),  # with WAL-E (molecule/site); pgBackRest's repository host reaches SSH (below)
    ("db", "store"): {22},
    ("app", "store"): set(),
    ("db", "app"): set(),
    ("store", "app"): set(),
    ("runner", "db"): {22},
    ("runner", "store"): {22},
    ("runner", "app"): {22},
}


@pytest.fixture(scope="module")
def site(host):
    if "app" not in host.ansible.get_variables().get("groups", {}).get("app", []):
        pytest.skip("a scenario with an application host (molecule/site, molecule/site-trixie)")
    inventory = host.backend.ansible_inventory
    hosts = {name: testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}") for name in ("db", "store", "app")}
    return {name: {"host": h, "address": h.ansible.get_variables()["testhost_bridge_address"],
                   "ports": listening(h)} for name, h in hosts.items()}


def listening(host):
    """The TCP ports the host listens on, on any address (loopback ones too: they must not answer from outside)."""
    lines = host.check_output("ss -Hltn").splitlines()
    return sorted({int(line.split()[3].rsplit(":", 1)[1]) for line in lines})


def probe_from(host, address, ports):
    """The ports of address that accept a TCP connection from host (3 s each, all at once)."""
    script = " ".join(f"(timeout 3 bash -c '</dev/tcp/{address}/{p}' 2>/dev/null && echo {p}) &" for p in ports)
    return {int(p) for p in host.check_output(f"{script} wait").split()}


def postgresql_listens_wide(site):
    return site["db"]["host"].ansible.get_variables().get("postgresql_listen_addresses", "localhost") != "localhost"


def probe_from_runner(address, ports):
    found = set()
    for port in ports:
        try:
            socket.create_connection((address, port), timeout=3).close()
            found.add(port)
        except OSError:
            pass
    return found


def test_each_port_answers_only_whom_the_firewall_opens_it_to(host, site):
    me = host.ansible.get_variables()["inventory_hostname"]
    answers = dict(ANSWERS)
    if site["db"]["host"].file("/etc/pgbackrest/pgbackrest.conf").exists:  # molecule/site-trixie
        answers[("store", "db")] = {22}
    if postgresql_listens_wide(site):  # molecule/site-trixie: its pg_hba names the application host
        answers[("app", "db")] = {6432, 5432}
    for target, info in site.items():
        if target == me:
            continue
        assert info["ports"], target
        answered = probe_from(host, info["address"], info["ports"])
        assert answered == answers[(me, target)], f"{me} -> {target} ({info['ports']}): {answered}"
    if me == "db":  # once: from the runner itself
        for target, info in site.items():
            answered = probe_from_runner(info["address"], info["ports"])
            assert answered == answers[("runner", target)], f"runner -> {target} ({info['ports']}): {answered}"


def test_the_ruleset_in_force_is_the_boot_ruleset_and_drops_by_default(host):
    chain = host.check_output("nft list chain inet bedrock input")
    assert "policy drop;" in chain and "ct state established,related accept" in chain
    assert host.file("/etc/nftables.conf").content_string == host.file("/var/lib/bedrock/firewall/ruleset.nft").content_string
    assert host.service("nftables").is_enabled
    # No rollback left armed.
    assert host.run("systemctl is-active bedrock-firewall-rollback.timer").stdout.strip() != "active"


def test_ssh_takes_keys_only_with_modern_cryptography(host):
    effective = {}
    for line in host.check_output("sshd -T").splitlines():
        key, _, value = line.partition(" ")
        effective[key] = f"{effective[key]} {value}" if key == "allowgroups" and key in effective else value
    assert effective["passwordauthentication"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no"
    assert effective["permitrootlogin"] == "without-password"  # prohibit-password, as sshd -T spells it
    assert effective["authenticationmethods"] == "publickey"
    assert "root" in effective["allowgroups"].split()
    assert not [c for c in effective["ciphers"].split(",") if "cbc" in c]
    assert not [m for m in effective["macs"].split(",") if "sha1" in m or "md5" in m or "etm" not in m]
    assert effective["kexalgorithms"].split(",")[0].startswith(("mlkem768x25519", "sntrup761x25519"))
    vars_ = host.ansible.get_variables()
    if "db" in vars_["group_names"] and vars_.get("backups_archiver") == "pgbackrest":
        assert "postgres" in effective["allowgroups"].split()


def test_a_password_login_is_refused_before_any_password_is_asked(host):
    address = host.ansible.get_variables()["testhost_bridge_address"]
    res = host.run("true")  # the key works: this very connection
    assert res.rc == 0
    attempt = os.popen(f"ssh -o BatchMode=yes -o PubkeyAuthentication=no -o StrictHostKeyChecking=no "
                       f"-o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 root@{address} true 2>&1").read()
    assert "Permission denied (publickey)." in attempt, attempt


# What a client sees, from the application host, without libpq there: the startup message in clear text (what
# sslmode=disable sends), then the SSLRequest, a TLS handshake that checks the CA and the name (sslmode=verify-full)
# and the startup message inside it. Prints one line per attempt.
CLIENT = r"""
import socket, ssl, struct, sys
address, port, cafile, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def startup(sock):
    body = struct.pack("!i", 196608) + b"user\0app\0database\0app\0\0"
    sock.sendall(struct.pack("!i", len(body) + 4) + body)
    reply = sock.recv(4096)
    if reply[:1] == b"R":
        return "R %d" % struct.unpack("!i", reply[5:9])[0]
    return reply[:1].decode() + " " + reply[5:].decode(errors="replace").replace("\0", " ")

with socket.create_connection((address, port), timeout=5) as plain:
    print("disable:", startup(plain))
for server_name in (name, "not-" + name):
    with socket.create_connection((address, port), timeout=5) as raw:
        raw.sendall(struct.pack("!ii", 8, 80877103))
        answer = raw.recv(1)
        try:
            context = ssl.create_default_context(cafile=cafile)
            with context.wrap_socket(raw, server_hostname=server_name) as tls:
                print("verify-full %s:" % server_name, answer.decode(), tls.version(), startup(tls))
        except ssl.SSLError as exc:
            print("verify-full %s:" % server_name, answer.decode(), "refused", exc.reason)
"""


def put_ca_certificate(host):
    """Copy the environment's CA the scenario's prepare made (playbooks/tls-ca.yml, in the inventory's tls/) to the
    host, as a client's sslrootcert; its path there."""
    inventory = host.backend.ansible_inventory
    folder = inventory if os.path.isdir(inventory) else os.path.dirname(inventory)
    with open(os.path.join(folder, "tls", "ca.crt")) as fh:
        host.check_output("cat > /tmp/bedrock-ca.crt <<'EOF'\n%sEOF" % fh.read())
    return "/tmp/bedrock-ca.crt"


def test_the_application_host_reaches_pgbouncer_and_postgresql_over_verified_tls_only(host, site):
    """PgBouncer (and PostgreSQL where it listens wide) refuse a client in clear text, and present a certificate the
    environment's CA signed for the address the application connects to: verify-full succeeds up to the password
    exchange (SCRAM, code 10), and the same certificate fails for any other name."""
    if host.ansible.get_variables()["inventory_hostname"] != "app":
        pytest.skip("from the application host")
    cafile = put_ca_certificate(host)
    address = site["db"]["address"]
    ports = [6432] + ([5432] if postgresql_listens_wide(site) else [])
    for port in ports:
        out = host.check_output("python3 -c %s %s %s %s %s", CLIENT, address, str(port), cafile, address)
        lines = dict(line.split(": ", 1) for line in out.splitlines())
        assert lines["disable"].startswith("E ") and (
            "SSL required" in lines["disable"] or "no encryption" in lines["disable"]), (port, out)
        assert lines[f"verify-full {address}"].startswith("S TLSv1.3 R 10"), (port, out)
        assert "refused" in lines[f"verify-full not-{address}"], (port, out)


def test_the_database_host_logs_in_with_libpq_verify_full_and_is_refused_without_tls(host, site):
    """A real libpq login through PgBouncer at the address clients use, its certificate verified against the CA;
    sslmode=disable is refused by PgBouncer itself."""
    if host.ansible.get_variables()["inventory_hostname"] != "db":
        pytest.skip("on the database host (psql is there)")
    cafile = put_ca_certificate(host)
    password = host.ansible.get_variables()["vault_postgresql_app_password"]
    dsn = f"host={site['db']['address']} port=6432 dbname=app user=app sslrootcert={cafile}"
    good = host.run("PGPASSWORD=%s psql -X -At -d %s -c 'SELECT current_user'", password, dsn + " sslmode=verify-full")
    assert good.rc == 0 and good.stdout.strip() == "app", good.stderr
    plain = host.run("PGPASSWORD=%s psql -X -At -d %s -c 'SELECT 1'", password, dsn + " sslmode=disable")
    assert plain.rc != 0 and "SSL required" in plain.stderr, plain.stderr


def test_the_daily_expiry_check_of_each_certificate_in_use_says_ok(host, site):
    """The cron lines of the services that present a certificate (PgBouncer here; PostgreSQL where it listens wide),
    run as cron runs them but without --quiet: OK, with the days left."""
    if host.ansible.get_variables()["inventory_hostname"] != "db":
        pytest.skip("on the database host")
    expected = {"/etc/cron.d/bedrock-pgbouncer-tls": "/etc/pgbouncer/tls/server.crt"}
    if postgresql_listens_wide(site):
        expected["/etc/cron.d/bedrock-postgresql-tls"] = host.check_output(
            "runuser -u postgres -- psql -X -At -c 'SHOW ssl_cert_file'")
    present = set(host.check_output("ls /etc/cron.d").split())
    assert {os.path.basename(f) for f in expected} == present & {"bedrock-pgbouncer-tls", "bedrock-postgresql-tls"}
    for cron_file, certificate in expected.items():
        line = [entry for entry in host.file(cron_file).content_string.splitlines() if entry and entry[0].isdigit()][0]
        user, command = line.split()[5], line.split(None, 6)[6].replace(" --quiet", "")
        assert user == "postgres" and command.endswith(certificate), line
        res = host.run("runuser -u postgres -- %s" % command)
        assert res.rc == 0 and res.stdout.startswith(f"OK - {certificate}: expires in"), res.stdout
