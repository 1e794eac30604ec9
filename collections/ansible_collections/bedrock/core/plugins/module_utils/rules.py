# -*- coding: utf-8 -*-
# Bedrock: every role variable's rule, checked on the controller before any change. Pure Python (no ansible import):
# the action plugin bedrock.core.check_rules, scripts/role-docs (the README "rule" column) and the tests read it.
#
# A role's rules are data: meta/argument_specs.yml gives each variable its type, choices, required sub-options and
# elements; the `rules` of the bedrock.core.check_rules task that opens tasks/validate.yml add what a type cannot
# say, beside the role's checks that need the host or several variables (role_rules reads them). Their keys are
# variable paths: "name", "name[]" (each element of a list), "name[].key" (a key of each dict element). A rule:
#   min / max        an integer's bounds                       format      a named format from FORMATS
#   port: listen     a port a Bedrock service binds (1024-65535, none shared on a host); port: remote (1-65535)
#   cron: FIELD      a cron field (minute, hour, day, month, weekday) without spaces, within its range
#   persist: true    a path that must survive a reboot and a full /tmp: never on a tmpfs
#   in: PATH         each value names one of another variable's values (also: names that always exist)
#   unique: true     no two elements alike                     keys: FORMAT  a dict's keys
#   why: TEXT        said after a refusal                      boundary_with: {...}  companions for a valid boundary test
#   rule: TEXT       for a variable whose type and choices are its whole rule, or whose rule a role checks itself
#                    (against the host or another variable): what that rule is, for the README
from __future__ import annotations

import ipaddress
import json
import os
import re

FORMATS = {
    "pg_name": (r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}",
                "a PostgreSQL name (1 to 63 letters, digits, _ . or -; no spaces or quotes)"),
    "pg_name_or_all": (r"all|[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}(,[A-Za-z0-9_][A-Za-z0-9_.-]{0,62})*",
                       "all, or PostgreSQL names separated by commas"),
    "pg_setting": (r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?", "a PostgreSQL setting name (lowercase, e.g. jit)"),
    "pg_time": (r"(0|[1-9][0-9]*)(us|ms|s|min|h|d)?",
                "a PostgreSQL time: a whole number with us, ms, s, min, h or d (no unit: ms; 0 is off)"),
    "unix_name": (r"[a-z_][a-z0-9_-]{0,31}", "a Unix user or group name (a-z or _, then up to 31 of a-z 0-9 _ -)"),
    "unit_name": (r"[A-Za-z0-9_.:-]+@?", "a systemd service name without .service (a template ends in @)"),
    "absolute_path": (r"/[^\s'\"]*", "an absolute path without spaces or quotes"),
    "file_name": (r"[A-Za-z0-9_.-]+\.conf", "a file name ending in .conf"),
    "listen_addresses": (r"\*|[A-Za-z0-9.:_-]+(\s*,\s*[A-Za-z0-9.:_-]+)*",
                         "* or addresses and host names separated by commas"),
    "host_name": (r"[A-Za-z0-9]([A-Za-z0-9.:_-]*[A-Za-z0-9])?", "a host name or address"),
    "inventory_host": (r"|[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", "an inventory host name, or empty"),
    "tmpfs_size": (r"[1-9][0-9]*[kmgKMG]?|[1-9][0-9]?%|100%",
                   "a size (digits with k, m or g, e.g. 512m) or a percentage of RAM from 1% to 100%"),
    "log_line_prefix": (r"(?=.*%[tmn])(?=.*%[pc]).*",
                        "a log_line_prefix with a time (%t, %m or %n) and a process id (%p or %c), which pgbadger parses"),
    "pg_role_flags": (r"(NO)?[A-Z]+(,(NO)?[A-Z]+)*", "role attributes in capitals separated by commas, e.g. LOGIN,CREATEDB"),
    "s3_prefix": (r"|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?", "empty, or s3://bucket/path"),
    "s3_bucket": (r"|[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name (3-63 of a-z 0-9 . -), or empty"),
    "pem_certificates": (r"|(-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?)+",
                         "PEM certificates (-----BEGIN CERTIFICATE----- ...), or empty"),
    "pem_private_key": (r"|-----BEGIN (EC |RSA )?PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END (EC |RSA )?PRIVATE KEY-----\n?",
                        "one unencrypted PEM private key (-----BEGIN PRIVATE KEY----- ...), or empty"),
    "s3_endpoint": (r"|(https?|https\+path|http\+path)://[A-Za-z0-9.-]+(:[0-9]{1,5})?",
                    "empty, or a scheme (http, https, http+path, https+path), a host and a port"),
    "word": (r"[A-Za-z0-9_.-]+", "letters, digits, _ . or - (no spaces)"),
    "variable_name": (r"[A-Za-z_][A-Za-z0-9_]*", "an Ansible variable name (letters, digits and _)"),
    "word_or_empty": (r"[A-Za-z0-9_.-]*", "letters, digits, _ . or - (no spaces), or empty"),
    "text": (r"[^\n\r]*", "one line of text"),
    "query": (r"[^\n\r;]*", "one SQL statement on one line (no ;), or empty"),
    "cron_job_name": (r"[A-Za-z0-9][A-Za-z0-9 _.:-]*", "a job name (letters, digits, spaces, _ . : -)"),
    "deb_package": (r"[a-z0-9][a-z0-9+.-]+", "a Debian package name"),
    "sysctl_key": (r"[a-z0-9_]+(\.[A-Za-z0-9_@:-]+)+", "a kernel key such as net.core.somaxconn"),
    "sysctl_prefix": (r"[a-z0-9_]+\.([A-Za-z0-9_-]+\.)*", "a key prefix ending in a dot, such as net."),
    "cluster_name": (r"[a-z0-9_]{1,63}", "a cluster name (lowercase letters, digits and _)"),
    "limits_domain": (r"\*|@?[a-z_][a-z0-9_-]{0,31}", "a user, an @group or *"),
    "host_name_or_empty": (r"|[A-Za-z0-9]([A-Za-z0-9.:_-]*[A-Za-z0-9])?", "a host name or address, or empty"),
    "glob": (r"/[^\s'\"]*", "an absolute path pattern without spaces or quotes"),
    "hba_address": (None, "an address with its mask (127.0.0.1/32, ::1/128), samehost or samenet"),
    "cidr": (None, "an IPv4 or IPv6 address or network (192.0.2.10, 10.0.0.0/8, 2001:db8::/32)"),
}

RULE_KEYS = frozenset(("min", "max", "format", "port", "cron", "persist", "in", "also", "unique", "keys", "why",
                       "boundary_with", "rule"))
CRON_FIELDS = {"minute": (0, 59), "hour": (0, 23), "day": (1, 31), "month": (1, 12), "weekday": (0, 7)}
PORT_RANGES = {"listen": (1024, 65535), "remote": (1, 65535)}
ELEMENT_WORDS = {"int": "integers", "bool": "booleans", "str": "strings", "path": "paths", "dict": "mappings",
                 "list": "lists"}
TYPE_WORDS = {"int": "an integer", "bool": "true or false", "str": "a string", "path": "a path", "list": "a list",
              "dict": "a mapping", "raw": "any value"}


def show(value):
    """A value as the operator wrote it: strings quoted (trailing spaces visible), others as JSON."""
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def type_name(value):
    if value is None:
        return "null"
    for name, kinds in (("bool", bool), ("int", int), ("float", float), ("str", str), ("list", list), ("dict", dict)):
        if isinstance(value, kinds):
            return name
    return type(value).__name__


def type_ok(kind, value):
    if kind in ("int",):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("str", "path"):
        return isinstance(value, str)
    if kind == "list":
        return isinstance(value, list)
    if kind == "dict":
        return isinstance(value, dict)
    return True


def type_text(opt):
    kind = opt.get("type", "str")
    if kind == "list" and "elements" in opt:
        return f"a list of {ELEMENT_WORDS.get(opt['elements'], opt['elements'])}"
    return TYPE_WORDS.get(kind, kind)


def _format_ok(name, value):
    if name == "cidr":
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
        return True
    if name == "hba_address":
        if value in ("samehost", "samenet"):
            return True
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError:
            return False
        return "/" in value
    return re.fullmatch(FORMATS[name][0], value) is not None


def _cron_ok(field, value):
    low, high = CRON_FIELDS[field]
    for part in value.split(","):
        match = re.fullmatch(r"(\*|([0-9]+)(-([0-9]+))?)(/([1-9][0-9]*))?", part)
        if not match:
            return False
        numbers = [int(n) for n in (match.group(2), match.group(4)) if n is not None]
        if any(n < low or n > high for n in numbers) or (len(numbers) == 2 and numbers[0] > numbers[1]):
            return False
    return True


def _port_text(kind):
    return "a port between %d and %d" % PORT_RANGES[kind]


def _cron_text(field):
    low, high = CRON_FIELDS[field]
    return f"a cron {field} field (*, N, N-M, lists and /step within {low}-{high}; no spaces)"


def describe(rule, opt=None):
    """The rule in words: the README's "rule" column and the middle of every refusal ("X must be <this>, got Y")."""
    opt = opt or {}
    parts = []
    if "port" in rule:
        parts.append(_port_text(rule["port"])
                     + (" that no other service on the host uses" if rule["port"] == "listen" else ""))
    elif "min" in rule or "max" in rule:
        parts.append(_range_text(rule))
    if "format" in rule:
        parts.append(FORMATS[rule["format"]][1])
    if "cron" in rule:
        parts.append(_cron_text(rule["cron"]))
    if "keys" in rule:
        parts.append(f"a mapping whose keys are each {FORMATS[rule['keys']][1]}")
    if rule.get("persist"):
        parts.append("not on a tmpfs (it must survive a reboot and a full /tmp)")
    if "in" in rule:
        also = rule.get("also", [])
        parts.append(f"one of {rule['in']}" + (f" (or {', '.join(also)})" if also else ""))
    if rule.get("unique"):
        parts.append("unique")
    if "choices" in opt:
        parts.append("one of " + ", ".join(map(str, opt["choices"])))
    if "rule" in rule:
        parts.append(rule["rule"])
    if not parts:
        parts.append(type_text(opt))
    return "; ".join(parts)


def spec_for(path, options):
    """The argument_specs entry that types a rule path ("a", "a[]", "a[].b")."""
    name, _, rest = path.partition("[]")
    opt = options.get(name, {})
    if path.endswith("[]"):
        return {"type": opt.get("elements", "str"), "choices": opt["choices"]} if "choices" in opt \
            else {"type": opt.get("elements", "str")}
    if rest.startswith("."):
        return opt.get("options", {}).get(rest[1:], {})
    return opt


def concrete(path, values):
    """(label, value) for each place a rule path reaches: "a" -> a; "a[]" -> a[0], a[1]; "a[].b" -> a[0].b (if set)."""
    name, _, rest = path.partition("[]")
    value = values.get(name)
    if "[]" not in path:
        return [(name, value)]
    if not isinstance(value, list):
        return []
    if not rest:
        return [(f"{name}[{i}]", v) for i, v in enumerate(value)]
    key = rest[1:]
    return [(f"{name}[{i}].{key}", v[key]) for i, v in enumerate(value)
            if isinstance(v, dict) and v.get(key) is not None]


def _type_problems(name, value, opt):
    """Strict types: "64" is not an integer, "yes" not a bool, "a,b" not a list (argument_specs would accept them
    and leave the string in place for later tasks to trip on)."""
    kind = opt.get("type", "str")
    secret = opt.get("no_log")
    if value is None:
        return [(name, f"{name} must be {type_text(opt)}, got nothing (null).")]
    if not type_ok(kind, value):
        shown = "a secret" if secret else f"{show(value)} ({type_name(value)})"
        hint = " (write it without quotes)" if kind == "int" and isinstance(value, str) and value.strip().isdigit() else ""
        return [(name, f"{name} must be {type_text(opt)}, got {shown}{hint}.")]
    if "choices" in opt and kind != "list" and value not in opt["choices"]:
        return [(name, f"{name} must be one of {', '.join(map(str, opt['choices']))}, got {show(value)}.")]
    found = []
    if kind == "list":
        element = opt.get("elements")
        for i, item in enumerate(value):
            label = f"{name}[{i}]"
            if element == "dict" and "options" in opt:
                found += _dict_problems(label, item, opt["options"])
            elif element:
                found += _type_problems(label, item, {k: v for k, v in (("type", element), ("choices", opt.get("choices")))
                                                      if v is not None})
    return found


def _dict_problems(label, item, options):
    if not isinstance(item, dict):
        return [(label, f"{label} must be a mapping with keys {', '.join(options)}, got {show(item)} "
                        f"({type_name(item)}).")]
    found = []
    unknown = [k for k in item if k not in options]
    if unknown:
        found.append((label, f"{label} has unknown keys {', '.join(map(str, unknown))} (known: {', '.join(options)})."))
    for key, sub in options.items():
        if item.get(key) is None:
            if sub.get("required"):
                found.append((f"{label}.{key}", f"{label}.{key} is required."))
            continue
        found += _type_problems(f"{label}.{key}", item[key], sub)
    return found


def _range_text(rule):
    if "min" in rule and "max" in rule:
        return f"between {rule['min']} and {rule['max']}"
    return f"at least {rule['min']}" if "min" in rule else f"at most {rule['max']}"


def _value_problems(label, value, rule, opt):
    """One place against its rule (its type is right already): the part it breaks, the value, and why."""
    shown = "a secret" if opt.get("no_log") else show(value)
    why = f": {rule['why']}" if "why" in rule else ""
    broken = None
    if "port" in rule and not PORT_RANGES[rule["port"]][0] <= value <= PORT_RANGES[rule["port"]][1]:
        broken = _port_text(rule["port"])
    elif ("min" in rule and value < rule["min"]) or ("max" in rule and value > rule["max"]):
        broken = _range_text(rule)
    elif "format" in rule and not _format_ok(rule["format"], value):
        broken = FORMATS[rule["format"]][1]
    elif "cron" in rule and not _cron_ok(rule["cron"], value):
        broken = _cron_text(rule["cron"])
    elif "keys" in rule:
        bad = [k for k in value if not isinstance(k, str) or not _format_ok(rule["keys"], k)]
        if bad:
            return [f"{label}: keys must each be {FORMATS[rule['keys']][1]}, got {', '.join(map(show, bad))}."]
    return [f"{label} must be {broken}, got {shown}{why}."] if broken else []


def check(values, rules, options):
    """Problems (sentences naming the variable, the value and the rule) and what the pre-flight's cross-role step
    needs from this role: the values each rule path reaches (no secret), its listen ports, persisting paths and
    references."""
    typed = [found for name, opt in options.items() if name in values
             for found in _type_problems(name, values[name], opt)]
    problems = [sentence for _, sentence in typed]
    typed_wrong = {label for label, _ in typed}  # a place whose type (or its container's) is wrong gets no more
    cross = {"values": {}, "ports": [], "persist": [], "refs": []}
    for path, rule in rules.items():
        opt = spec_for(path, options)
        places = [(label, value) for label, value in concrete(path, values)
                  if label not in typed_wrong and value is not None and type_ok(opt.get("type", "str"), value)
                  and not any(label.startswith(bad + ".") or label.startswith(bad + "[") for bad in typed_wrong)]
        for label, value in places:
            problems += _value_problems(label, value, rule, opt)
        if rule.get("unique"):
            seen = set()
            for label, value in places:
                key = json.dumps(value, sort_keys=True, default=str)
                if key in seen:
                    problems.append(f"{label} must be unique, got {show(value)} twice.")
                seen.add(key)
        if not opt.get("no_log"):  # names and numbers only: never a secret, nor a whole list of dicts
            cross["values"][path] = [value for _, value in places if isinstance(value, (str, int))]
        if rule.get("port") == "listen":
            cross["ports"] += [[label, value] for label, value in places]
        if rule.get("persist"):
            cross["persist"] += [[label, value] for label, value in places]
        if "in" in rule:
            cross["refs"] += [[label, value, rule["in"], rule.get("also", [])] for label, value in places]
    return problems, cross


def _mount_of(path, mounts):
    """The mount (point, type) a path lies on: the longest mount point that is the path or one of its folders."""
    best = ("/", "")
    for point, fstype in mounts:
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best[0]):
            best = (point, fstype)
    return best


def _mounts(proc_mounts):
    return [(fields[1], fields[2]) for fields in (line.split() for line in proc_mounts.splitlines()) if len(fields) > 2]


def mount_point(path, proc_mounts):
    """The mount point a path lies on (the path need not exist yet), from /proc/mounts' text."""
    return _mount_of(path.rstrip("/") or "/", _mounts(proc_mounts))[0]


def mount_type(path, proc_mounts):
    """The filesystem type (ext4, tmpfs, nfs4 ...) of the mount a path lies on; "" when /proc/mounts has no /."""
    return _mount_of(path.rstrip("/") or "/", _mounts(proc_mounts))[1]


def cross_check(checked, proc_mounts="", known_ports=None):
    """Across the roles one host runs: references to names no role's list holds, listen ports two services share
    (or a port of a service Bedrock knows: known_ports, label -> port), persisting paths on a tmpfs (mounted now,
    or /tmp when the fstab role makes it one). checked: role -> the cross part of check()."""
    problems = []
    values = {}
    for part in checked.values():
        values.update(part.get("values", {}))
    for part in checked.values():
        for label, value, target, also in part.get("refs", []):
            if target in values and value not in values[target] and value not in also:
                have = ", ".join(map(str, sorted(set(map(str, values[target])) | set(also)))) or "nothing"
                problems.append(f"{label} names {show(value)}, which is not in {target} (it holds: {have}).")
    ports = [[label, value] for part in checked.values() for label, value in part.get("ports", [])]
    ports += [[label, value] for label, value in (known_ports or {}).items()]
    for i, (label, value) in enumerate(ports):
        for other, other_value in ports[:i]:
            if value == other_value:
                problems.append(f"{label} = {value} collides with {other} = {other_value}: two services cannot "
                                f"listen on one port (or share its unix socket).")
    mounts = [(fields[1], fields[2]) for fields in (line.split() for line in proc_mounts.splitlines()) if len(fields) > 2]
    fstab = values.get("fstab_tmp_tmpfs", [False])
    enabled = values.get("fstab_enabled", [True])
    if fstab and fstab[0] and enabled and enabled[0]:
        mounts.append(("/tmp", "tmpfs (fstab_tmp_tmpfs)"))
    for part in checked.values():
        for label, path in part.get("persist", []):
            point, fstype = _mount_of(path, mounts)
            if fstype.startswith("tmpfs") or fstype in ("ramfs", "devtmpfs"):
                problems.append(f"{label} = {show(path)} lies on {point}, a {fstype}: its files would be lost at "
                                f"every reboot (or fill RAM); it must be on a disk.")
    return problems


def role_rules(role_dir):
    """A role's rules: the `rules` of the bedrock.core.check_rules task in its tasks/validate.yml ({} if none)."""
    import yaml  # on the controller only (scripts and tests); the pre-flight passes the rules as task arguments

    with open(os.path.join(role_dir, "tasks", "validate.yml")) as fh:
        tasks = yaml.safe_load(fh) or []
    for task in tasks:
        args = task.get("bedrock.core.check_rules")
        if isinstance(args, dict):
            return args.get("rules") or {}
    return {}
