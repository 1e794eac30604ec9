# -*- coding: utf-8 -*-
# Bedrock: the pre-flight's step across the roles one host runs (after each role's bedrock.core.check_rules).
from __future__ import annotations

from ansible_collections.bedrock.core.plugins.module_utils.rules import cross_check

DOCUMENTATION = r"""
name: cross_rule_problems
short_description: References no role's list holds, listen ports two services share, persisting paths on a tmpfs
description:
  - "O(_input) maps each role to the C(cross) part of its bedrock.core.check_rules result."
  - Returns one sentence per problem, naming the variable, its value and the rule.
options:
  _input: {description: Role -> the cross part of its check., type: dict, required: true}
  proc_mounts: {description: The host's /proc/mounts text., type: str, default: ""}
  known_ports: {description: Ports of services Bedrock knows but does not run (label -> port)., type: dict, default: {}}
"""

RETURN = r"""
_value: {description: The problems (empty when there are none)., type: list, elements: str}
"""


def cross_rule_problems(checked, proc_mounts="", known_ports=None):
    return cross_check(checked or {}, proc_mounts or "", known_ports or {})


class FilterModule:
    def filters(self):
        return {"cross_rule_problems": cross_rule_problems}
