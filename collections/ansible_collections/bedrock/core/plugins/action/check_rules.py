# -*- coding: utf-8 -*-
# Bedrock: a role's variables against their rules (meta/argument_specs.yml for types, the task's rules for the rest),
# on the controller, in the pre-flight before any change. One refusal names every broken variable, its value and
# its rule; the result's "cross" part feeds the pre-flight's cross-role step (bedrock.core.cross_rule_problems).
from __future__ import annotations

import os

import yaml

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.bedrock.core.plugins.module_utils.rules import check


def load_options(role_path):
    """The argument_specs main options of the role at role_path."""
    with open(os.path.join(role_path, "meta", "argument_specs.yml")) as fh:
        return yaml.safe_load(fh)["argument_specs"]["main"]["options"] or {}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("role_path", "options", "rules", "values"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        values = args.get("values")
        rules = args.get("rules")
        if isinstance(args.get("role_path"), str):
            options, what = load_options(args["role_path"]), os.path.basename(args["role_path"])
        elif isinstance(args.get("options"), dict):
            options, what = args["options"], "the inventory"
        else:
            options = None
        if options is None or not isinstance(rules, dict) or not isinstance(values, dict):
            raise AnsibleActionFail("check_rules needs values (variable -> value), rules (rule path -> rule) and either "
                                    "role_path (a role's folder: its meta/argument_specs.yml) or options (that shape)")
        problems, cross = check(values, rules, options)
        result.update(changed=False, problems=problems)
        if problems:
            result.update(failed=True, msg=" ".join(problems))
        else:
            result.update(cross=cross, msg=f"{len(options)} variables of {what} follow their rules")
        return result
