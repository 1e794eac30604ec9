"""Loads the launcher (a script without .py) as a module, and offers helpers for live runner checks."""

import datetime
import importlib.machinery
import importlib.util
import os
import subprocess

import json

import pytest
import yaml

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
LAUNCHER = os.path.join(SCRIPTS, "testhost")


def load_launcher():
    loader = importlib.machinery.SourceFileLoader("testhost", LAUNCHER)
    spec = importlib.util.spec_from_loader("testhost", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture
def launcher():
    return load_launcher()


def launch(*args, check=True):
    return subprocess.run([LAUNCHER, *args], capture_output=True, text=True, check=check)


def runner_state():
    return subprocess.run([os.path.join(SCRIPTS, "runner-state")], capture_output=True, text=True, check=True).stdout


REPO = os.path.abspath(os.path.join(SCRIPTS, ".."))
SSH_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"


class Target:
    """A container made by the launcher, with an inventory for it, to run Bedrock's playbooks against."""

    def __init__(self, name, directory, groups=(), hostvars=None):
        self.name = name
        info = json.loads(launch("create", name).stdout)
        self.inventory = directory / "hosts.yml"
        host = {name: {"ansible_host": info["address"], "ansible_port": info["port"], "ansible_user": info["user"],
                       "ansible_ssh_private_key_file": info["identity_file"], "ansible_ssh_common_args": SSH_ARGS,
                       **(hostvars or {})}}
        self.inventory.write_text(yaml.safe_dump({"all": {"hosts": host, "children": {g: {"hosts": {name: None}}
                                                                                      for g in groups}}}))
        self.directory = directory

    def ssh(self, command, check=True):
        return launch("ssh", self.name, command, check=check)

    def ssh_out(self, command):
        return self.ssh(command).stdout.strip()

    def etc_checksums(self):
        return self.ssh("find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum").stdout

    def play(self, playbook, extra_vars=None, *args, vars_file="extra-vars.yml", inventory=None):
        """Runs playbooks/<playbook> against the host (or another inventory of it); returns (result, output with
        whitespace folded)."""
        cmd = ["ansible-playbook", "-i", str(inventory or self.inventory), *args]
        if extra_vars is not None:
            path = self.directory / vars_file
            path.write_text(yaml.safe_dump(extra_vars))
            cmd += ["-e", f"@{path}"]
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
        res = subprocess.run(cmd + [os.path.join(REPO, "playbooks", playbook)], capture_output=True, text=True,
                             cwd=REPO, env=env)
        return res, " ".join((res.stdout + res.stderr).split())

    def destroy(self):
        launch("destroy", self.name)


def fresh_target(tmp_path_factory, name, groups=(), hostvars=None):
    """A module's container: any leftover of the same name removed first, destroyed after the module."""
    launch("destroy", name, check=False)
    host = Target(name, tmp_path_factory.mktemp(name), groups=groups, hostvars=hostvars)
    yield host
    host.destroy()


# A database host for the layer tests: one login role and its database (test-only password), small
# shared_buffers, and no noatime on / (a container's / has no fstab line; the pre-flight checks every layer).
DB_HOST_VARS = {
    "fstab_noatime_mount_points": [],
    "postgresql_shared_buffers_mb": 128,
    "postgresql_users": [{"name": "app", "password": "app-test-password"}],
    "postgresql_databases": [{"name": "appdb", "owner": "app"}],
}


def tls_pair(name, days_from=-1, days_to=90):
    """(certificate, key) in PEM, self-signed for name, valid from days_from to days_to days from now."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=days_from))
            .not_valid_after(now + datetime.timedelta(days=days_to))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()
