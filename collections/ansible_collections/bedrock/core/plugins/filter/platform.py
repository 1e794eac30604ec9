# -*- coding: utf-8 -*-
# Bedrock: the Debian releases Bedrock supports and what each one packages. The one table every role and the
# pre-flight read, so the PostgreSQL major (and the paths, units and packages named after it) follow the host's
# release instead of a number written in several roles.
from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: debian_platform
short_description: What the host's Debian release packages (PostgreSQL major, PgBouncer, Python), or why it is refused
description:
  - "C(debian_platform): O(_input) is the host's ansible_facts; returns the release's entry (C(release),
    C(codename), C(postgresql_major), C(pgbouncer_version), C(python_version)); fails naming the release found
    and the supported ones."
  - "C(platform_problem): the same refusal as a sentence, or an empty string for a supported release."
options:
  _input: {description: "The host's ansible_facts (distribution, distribution_major_version).", type: dict, required: true}
"""

RETURN = r"""
_value: {description: The release's entry, or the refusal sentence., type: raw}
"""

# From the Debian archive: each release's default PostgreSQL major and its PgBouncer (the versions decide which
# settings exist; the pre-flight names them).
PLATFORMS = {
    "12": {"release": "12", "codename": "bookworm", "postgresql_major": 15, "pgbouncer_version": "1.18",
           "python_version": "3.11"},
    "13": {"release": "13", "codename": "trixie", "postgresql_major": 17, "pgbouncer_version": "1.24",
           "python_version": "3.13"},
}


def supported():
    return ", ".join(f"Debian {p['release']} ({p['codename']})" for p in PLATFORMS.values())


def platform_problem(facts):
    facts = facts or {}
    name = facts.get("distribution", "an unknown system")
    major = str(facts.get("distribution_major_version", ""))
    if name == "Debian" and major in PLATFORMS:
        return ""
    found = " ".join(str(part) for part in (name, facts.get("distribution_version", "")) if part)
    return f"the host runs {found}; Bedrock supports {supported()}."


def debian_platform(facts):
    problem = platform_problem(facts)
    if problem:
        raise AnsibleFilterError(problem)
    return dict(PLATFORMS[str(facts["distribution_major_version"])])


class FilterModule:
    def filters(self):
        return {"debian_platform": debian_platform, "platform_problem": platform_problem}
