# -*- coding: utf-8 -*-
# Bedrock: a role's variables against their rules (meta/argument_specs.yml for types, meta/rules.yml for the rest),
# on the controller, in the pre-flight before any change. One refusal names every broken variable, its value and
# its rule; the result's "cross" part feeds the pre-flight's cross-role step (bedrock.core.cross_rule_problems).
from __future__ import annotations

import os

import yaml

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.bedrock.core.plugins.module_utils.rules import check


def load_rules(role_path):
    """(argument_specs main options, rules) of the role at role_path."""
    with open(os.path.join(role_path, "meta", "argument_specs.yml")) as fh:
        options = yaml.safe_load(fh)["argument_specs"]["main"]["options"]
    path = os.path.join(role_path, "meta", "rules.yml")
    rules = {}
    if os.path.exists(path):
        with open(path) as fh:
            rules = yaml.safe_load(fh) or {}
    return options, rules


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("role_path", "options", "rules", "values"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        values = args.get("values")
        if isinstance(args.get("role_path"), str):
            options, rules = load_rules(args["role_path"])
            what = os.path.basename(args["role_path"])
        elif isinstance(args.get("options"), dict) and isinstance(args.get("rules"), dict):
            options, rules, what = args["options"], args["rules"], "the inventory"
        else:
            options = None
        if options is None or not isinstance(values, dict):
            raise AnsibleActionFail("check_rules needs values (variable -> value) and either role_path (a role's folder) "
                                    "or options and rules (the shapes of meta/argument_specs.yml and meta/rules.yml)")
        problems, cross = check(values, rules, options)
        result.update(changed=False, problems=problems)
        if problems:
            result.update(failed=True, msg=" ".join(problems))
        else:
            result.update(cross=cross, msg=f"{len(options)} variables of {what} follow their rules")
        return result
