"""Expected values for the OS-layer tests: a role's defaults, overridden by the scenario's inventory."""

import os

import pytest
import yaml

ROLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "roles")


def role_defaults(role):
    with open(os.path.join(ROLES, role, "defaults", "main.yml")) as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def setting(hostvars):
    def lookup(role, name):
        return hostvars.get(name, role_defaults(role)[name])
    return lookup


@pytest.fixture(scope="module")
def is_vm(hostvars):
    return hostvars["testhost_kind"] == "vm"


def normalized(value):
    return " ".join(str(value).split())
