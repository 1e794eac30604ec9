"""The bad-input table, generated from the roles' rules (tasks/validate.yml and meta/argument_specs.yml), not picked by
hand: each numeric bound +-1, wrong types, strings with spaces and empty ones (where the rule's format refuses them),
cron fields that would shift columns, unknown and missing keys, duplicates, each reference pointed at a name no list
holds, each persisting path put on a tmpfs, each listen port collided with each other one. And the other way: each
bound that is valid. Only the FORMATS table (the rule data's own regular expressions) and the lookup of a rule path's
argument_specs entry are taken from the rule module; the checking itself is left to the pre-flight under test."""

import copy
import glob
import importlib.util
import json
import os
import re

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
_spec = importlib.util.spec_from_file_location(
    "bedrock_rules_data", os.path.join(REPO, "collections/ansible_collections/bedrock/core/plugins/module_utils/rules.py"))
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
rules = _module  # the rule module itself, for the tests that exercise it
FORMATS, CRON_FIELDS, spec_for = _module.FORMATS, _module.CRON_FIELDS, _module.spec_for

# The order the pre-flight validates the roles in: a run stops at the first role that refuses.
ROLES = ["sysctl", "limits", "fstab", "swap", "postgresql_common", "postgresql", "pgbadger", "pgbouncer", "wale", "pgbackrest", "backups", "backup_store", "sshd", "firewall", "host_tools"]
NO_SUCH_NAME = "bedrock_no_such_name"
TMPFS_PLACES = ["/run/bedrock-rules-test", "/tmp/bedrock-rules-test"]  # /run is a tmpfs; /tmp becomes one (fstab role)
# Values a role's default computes from facts or other roles (a template): what they come to on the test host.
COMPUTED = {
    "postgresql_effective_cache_size_mb": 512, "postgresql_maintenance_work_mem_mb": 64,
    "pgbouncer_databases": [{"name": "appdb"}], "pgbouncer_auth_users": ["app"], "pgbouncer_server_port": 5432,
    "pgbouncer_server_reset_query": "", "backups_databases": ["appdb"],
    "pgbadger_log_line_prefix": "%t [%p]: [%l-1] db=%d,user=%u ",
    # No TLS pair in the test inventory (nothing listens beyond the host there); the names its hosts would carry.
    "postgresql_tls_dir": "/etc/bedrock-no-tls", "postgresql_tls_certificate": "", "postgresql_tls_private_key": "",
    "postgresql_tls_names": ["pytest-site-bad-input"],
    # The test host is Debian 12.
    "postgresql_version": 15, "pgbouncer_max_prepared_statements": 0, "postgresql_packages": ["postgresql-15", "postgresql-client-15", "python3-psycopg2"],
}


INVENTORY = "(inventory)"  # the variables of Bedrock as a whole, checked first: playbooks/vars/inventory_rules.yml


def load_role(role):
    """(argument_specs options, rules, defaults) of a role, or of the inventory's own variables."""
    if role == INVENTORY:
        with open(os.path.join(REPO, "playbooks", "vars", "inventory_rules.yml")) as fh:
            data = yaml.safe_load(fh)
        return data["bedrock_inventory_options"], data["bedrock_inventory_rules"], {}

    def read(name):
        with open(os.path.join(REPO, "roles", role, name)) as fh:
            return yaml.safe_load(fh) or {}
    return (read("meta/argument_specs.yml")["argument_specs"]["main"]["options"] or {},
            rules.role_rules(os.path.join(REPO, "roles", role)), read("defaults/main.yml"))


def base_values(good, store_host):
    """Each role variable's value on the test host: the good inventory's, else the role default (computed ones as
    they come out there)."""
    values = {}
    for role in ROLES:
        _, _, defaults = load_role(role)
        for name, value in defaults.items():
            values[name] = value
    values.update(COMPUTED, backups_store_host=store_host, backups_store_address=store_host)
    values.update(good)
    return values


def _refused_strings(fmt, base):
    """Strings the format's own expression refuses: the value with a trailing space, empty, with a space inside."""
    candidates = [f"{base} ", "", "two words"]
    if fmt == "hba_address":
        return ["10.0.0.1", "everywhere"]
    if fmt == "cidr":
        return ["10.0.0.0/33", "everywhere"]
    regex = FORMATS[fmt][0]
    return [c for c in candidates if re.fullmatch(regex, c) is None][:2]


def _wrong_type(kind, base):
    return {"int": str(base), "bool": "yes", "list": "a,b", "dict": "key=value"}.get(kind, 5)


class Case:
    def __init__(self, role, variable, label, value, kind, extra=None, expect=None):
        self.role, self.variable, self.label, self.value, self.kind = role, variable, label, value, kind
        self.extra = extra or {}          # variable -> value to set for this case (the whole variable)
        self.expect = expect or [label]   # what the refusal must name

    @property
    def id(self):
        return f"{self.kind}:{self.label}={json.dumps(self.value, default=str)}"


def _place(values, path, value, element=0):
    """Extra vars that put value at the path ("a", "a[]" element, "a[].b" of an element); (extra, label)."""
    name, _, rest = path.partition("[]")
    if "[]" not in path:
        return {name: value}, name
    items = copy.deepcopy(values.get(name) or [])
    if not rest:  # an element of a list of names: an empty list gets one
        items[element:element + 1] = [value]
        return {name: items}, f"{name}[{element}]"
    if not items:
        return None, None
    key = rest[1:]
    items[element] = {**items[element], key: value}
    return {name: items}, f"{name}[{element}].{key}"


def generate(good, store_host):
    """(bad cases refused by a role's own check, bad cases refused by the step across roles, valid boundaries)."""
    values = base_values(good, store_host)
    own, across, valid = [], [], []
    listen_ports = []
    for role in [INVENTORY] + ROLES:
        options, rules, _ = load_role(role)
        for path, rule in rules.items():
            opt = spec_for(path, options)
            kind = opt.get("type", "str")
            name = path.split("[")[0]
            current = [v for v in ([values.get(name)] if "[]" not in path else
                                   [i if path.endswith("[]") else (i or {}).get(path.split("[].")[1])
                                    for i in (values.get(name) or [])]) if v is not None]
            base = current[0] if current else None

            def add(target, value, what, element=0, expect=None):
                extra, label = _place(values, path, value, element)
                if extra is not None:
                    target.append(Case(role, name, label, value, what, extra, expect))

            if "choices" in opt and kind != "list":
                add(own, 99 if kind == "int" else "bogus", "choice")
            if "port" in rule:
                low, high = {"listen": (1024, 65535), "remote": (1, 65535)}[rule["port"]]
                add(own, low - 1, "range")
                add(own, high + 1, "range")
                if rule["port"] == "listen":
                    listen_ports.append((name, base))
                    if "in" not in rule:
                        add(valid, low, "bound")
                        add(valid, high, "bound")
            for bound, step in (("min", -1), ("max", 1)):
                if bound in rule:
                    add(own, rule[bound] + step, "range")
                    extra, label = _place(values, path, rule[bound])
                    if extra is None:
                        continue
                    for other, companion in rule.get("boundary_with", {}).items():
                        if "[]." in other:  # a sibling key of the same element
                            extra[name][0][other.split("[].")[1]] = companion
                        else:
                            extra[other] = companion
                    valid.append(Case(role, name, label, rule[bound], "bound", extra))
            if "format" in rule and isinstance(base, (str, type(None))):
                for bad in _refused_strings(rule["format"], base if base is not None else "x"):
                    add(own, bad, "format")
            if "cron" in rule:
                add(own, "1 2", "cron")
                add(own, str(CRON_FIELDS[rule["cron"]][1] + 1), "cron")
            if "keys" in rule:
                add(own, {**(base or {}), "Bad Key": 1}, "keys")
            if rule.get("unique") and current:
                if path.endswith("[]"):
                    dup = {name: list(values[name]) + [values[name][0]]}
                    own.append(Case(role, name, f"{name}[{len(values[name])}]", values[name][0], "unique", dup))
                elif "[]." in path:
                    dup = {name: copy.deepcopy(values[name]) + [copy.deepcopy(values[name][0])]}
                    label = f"{name}[{len(values[name])}].{path.split('[].')[1]}"
                    own.append(Case(role, name, label, base, "unique", dup))
            if "in" in rule:
                add(across, base + 1 if isinstance(base, int) else NO_SUCH_NAME, "reference")
            if rule.get("persist"):
                for place in TMPFS_PLACES:
                    add(across, place, "placement")
        # each variable given a value of another type; dict elements: a required key left out, an unknown key added
        for name, opt in options.items():
            own.append(Case(role, name, name, _wrong_type(opt.get("type", "str"), values.get(name)), "type",
                            {name: _wrong_type(opt.get("type", "str"), values.get(name))}))
            if opt.get("elements") == "dict" and values.get(name):
                item = values[name][0]
                for key, sub in opt.get("options", {}).items():
                    if sub.get("required") and key in item:
                        missing = {name: [{k: v for k, v in item.items() if k != key}] + values[name][1:]}
                        own.append(Case(role, name, f"{name}[0].{key}", None, "required", missing))
                with_unknown = {name: [{**item, "bogus_key": 1}] + values[name][1:]}
                own.append(Case(role, name, f"{name}[0]", "bogus_key", "unknown-key", with_unknown))
    for i, (name, port) in enumerate(listen_ports):
        for other, other_port in listen_ports[:i]:
            across.append(Case("(across)", name, name, other_port, "collision", {name: other_port}, [name, other]))
    for case in across:  # the step across roles names every problem at once: one run may hold any roles' cases
        case.role = "(across)"
    return own, across, valid


def _ports_apart(case, batch):
    ports = {v for c in batch for k, v in c.extra.items() if k.endswith("_port")}
    return not any(v in ports for k, v in case.extra.items() if k.endswith("_port"))


def rounds(cases, by_role=True):
    """Cases in as few runs as possible: one value per variable per run; refusals one role per run (a run stops at
    the first role that refuses); valid values with no two ports alike. A list of lists."""
    batches = []
    for case in cases:
        for batch in batches:
            if (batch[0].role == case.role or not by_role) and not any(set(c.extra) & set(case.extra) for c in batch) \
                    and (by_role or _ports_apart(case, batch)):
                batch.append(case)
                break
        else:
            batches.append([case])
    return batches


def count_rules():
    return sum(len(load_role(role)[1]) for role in [INVENTORY] + ROLES)


def all_rule_files():
    return sorted(glob.glob(os.path.join(REPO, "roles", "*", "tasks", "validate.yml"))) + [
        os.path.join(REPO, "playbooks", "vars", "inventory_rules.yml")]
