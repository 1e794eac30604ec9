#!/usr/bin/python
# -*- coding: utf-8 -*-
# Bedrock: documentation of the action plugin of the same name (it runs on the controller only).
from __future__ import annotations

DOCUMENTATION = r"""
module: check_rules
short_description: Check a role's variables against their rules, on the controller
description:
  - >-
    Types come from the role's meta/argument_specs.yml, checked strictly: C("64") is not an integer, C("yes") not a
    bool, C("a,b") not a list (argument_specs alone would accept them and leave the string for a later task to trip
    on). Ranges, formats, cron fields, ports, references, uniqueness and placement come from O(rules).
  - Fails with one sentence per broken variable, naming it, its value (a secret is not shown) and its rule.
  - Returns C(cross), what the pre-flight's step across roles checks (P(bedrock.core.cross_rule_problems#filter)).
options:
  role_path: {description: "The role's folder (C(role_path) inside the role), for its meta/argument_specs.yml; or give O(options).", type: path}
  options: {description: Variable -> its argument_specs entry (type, elements, choices, options)., type: dict}
  rules: {description: "Rule path -> its rule (format: module_utils/rules.py); a role keeps them in this task, first in its tasks/validate.yml.", type: dict, required: true}
  values: {description: "Variable -> its value, for the role's variables.", type: dict, required: true}
attributes:
  check_mode: {support: full}
  diff_mode: {support: none}
  platform: {platforms: all}
author: Bedrock
"""

RETURN = r"""
problems: {description: One sentence per broken variable., type: list, elements: str, returned: always}
cross:
  description: The values each rule path reached (names and numbers, no secret), listen ports, persisting paths, references.
  type: dict
  returned: always
"""

EXAMPLES = r"""
- name: Check each variable against its rule
  bedrock.core.check_rules:
    role_path: "{{ role_path }}"
    values: "{{ dict(names | zip(query('ansible.builtin.vars', *names))) }}"
    rules:
      myrole_port: {port: listen}
      myrole_users[]: {format: pg_name, unique: true}
"""
