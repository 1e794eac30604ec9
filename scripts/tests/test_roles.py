"""Every role has the same shape, documents every variable, and is exercised by a Molecule scenario."""

import glob
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLES = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(REPO, "roles", "*", "tasks")))


def test_there_are_roles():
    assert {"sysctl", "limits", "fstab", "swap"} <= set(ROLES)


def shared_role(role):
    """A role others list under dependencies to share its values, tasks_from files and handlers (postgresql_common):
    it has no tasks of its own to run, and its variables keep the prefix of what it describes (postgresql_)."""
    return role.endswith("_common")


@pytest.mark.parametrize("role", ROLES)
def test_role_has_every_part(role):
    parts = ["defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml", "handlers/main.yml", "README.md",
             "tasks/validate.yml"]
    if not shared_role(role):
        parts.append("tasks/main.yml")
    for part in parts:
        assert os.path.isfile(os.path.join(REPO, "roles", role, part)), f"{role} lacks {part}"


# A shared role may own a variable named for the layer that reads it, not for itself; each is listed here.
# backups_archiver: the backups layer's one choice of archiver, read by wale, pgbackrest and backups alike (so it
# lives in postgresql_common, which all three depend on; the backups role runs after the archivers).
SHARED_LAYER_VARIABLES = {"postgresql_common": {"backups_archiver"}}


@pytest.mark.parametrize("role", ROLES)
def test_role_variables_are_prefixed_with_its_name(role):
    with open(os.path.join(REPO, "roles", role, "meta", "argument_specs.yml")) as fh:
        options = yaml.safe_load(fh)["argument_specs"]["main"]["options"]
    prefix = role[:-len("common")] if shared_role(role) else role + "_"
    shared_elsewhere = SHARED_LAYER_VARIABLES.get(role, set())
    assert all(name.startswith(prefix) or name in shared_elsewhere for name in options), \
        [n for n in options if not n.startswith(prefix) and n not in shared_elsewhere]


def with_dependencies(role):
    """The role and the roles its meta/main.yml lists under dependencies (they run before it) or its tasks/main.yml
    includes (ansible.builtin.include_role), recursively."""
    with open(os.path.join(REPO, "roles", role, "meta", "main.yml")) as fh:
        deps = [dep["role"] if isinstance(dep, dict) else dep for dep in yaml.safe_load(fh).get("dependencies") or []]
    main = os.path.join(REPO, "roles", role, "tasks", "main.yml")
    if os.path.exists(main):
        with open(main) as fh:
            deps += [task["ansible.builtin.include_role"]["name"] for task in yaml.safe_load(fh) or []
                     if "ansible.builtin.include_role" in task]
    found = {role}
    for dep in deps:
        found |= with_dependencies(dep)
    return found


def converged_roles(playbook):
    """Roles a playbook applies (and their dependencies), following import_playbook."""
    with open(playbook) as fh:
        plays = yaml.safe_load(fh)
    found = set()
    for play in plays:
        if "ansible.builtin.import_playbook" in play:
            found |= converged_roles(os.path.join(os.path.dirname(playbook), play["ansible.builtin.import_playbook"]))
        for role in play.get("roles", []):
            found |= with_dependencies(role["role"] if isinstance(role, dict) else role)
    return found


@pytest.mark.parametrize("role", ROLES)
def test_role_is_converged_by_a_molecule_scenario(role):
    """Some scenario's converge playbook (or a playbook it imports) applies the role."""
    covered = set()
    for molecule_yml in glob.glob(os.path.join(REPO, "molecule", "*", "molecule.yml")):
        with open(molecule_yml) as fh:
            converge = yaml.safe_load(fh)["ansible"]["playbooks"]["converge"]
        covered |= converged_roles(os.path.join(os.path.dirname(molecule_yml), converge))
    assert role in covered


def test_role_readmes_match_argument_specs():
    res = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "role-docs"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout


@pytest.mark.parametrize("role", ROLES)
def test_no_dependency_has_tasks_the_preflight_would_run(role):
    """The pre-flight includes each role for its validate.yml; include_role runs the role's dependencies first, main
    tasks and all. A dependency with tasks of its own would change the host before every host is validated: a role
    that needs another role's work includes it in its tasks (as host_tools is), and a dependency only shares values,
    tasks_from files and handlers (postgresql_common)."""
    with open(os.path.join(REPO, "roles", role, "meta", "main.yml")) as fh:
        deps = [dep["role"] if isinstance(dep, dict) else dep for dep in yaml.safe_load(fh).get("dependencies") or []]
    assert [dep for dep in deps if os.path.exists(os.path.join(REPO, "roles", dep, "tasks", "main.yml"))] == []
