# -*- coding: utf-8 -*-
# Bedrock: renders a role's templates and reads its files on the controller, then writes all of them (and makes
# its folders) on the host in ONE module run. ansible.builtin.template/copy cost two module runs per file even
# when nothing changes (each about 0.2 s in a container, 5 s under TCG: the host compiles Ansible's module code
# on every run); a role with ten files paid twenty.
from __future__ import annotations

import os
import pwd
import socket

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template

# Only ansible-core's public interface (what its developer guide documents for action plugins: ActionBase's
# _task/_play_context/_loader/_templar/_find_needle/_execute_module, Templar.copy_with_new_env/template,
# trust_as_template, ansible.constants): checked on ansible-core 2.19 and 2.21 by scripts/controller-check.

SOURCES = ("template", "src", "content")
ENTRY_KEYS = frozenset(SOURCES + ("path", "state", "owner", "group", "mode", "contents", "file_mode", "exclusive", "skip",
                                   "secret", "vars", "target"))


def managed_text(template):
    """The configured ansible_managed text with its {file}/{host}/{uid} fields filled in as plain text."""
    text = C.config.get_config_value("DEFAULT_MANAGED_STR")
    fields = {"file": template, "host": socket.gethostname(), "uid": pwd.getpwuid(os.getuid()).pw_name}
    try:
        return text.format(**fields)
    except (KeyError, IndexError, ValueError):  # a text with other braces is taken as it is
        return text


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("files", "owner", "group", "mode"))

    def render(self, template, task_vars, extra_vars=None):
        source = self._find_needle("templates", template)
        data = trust_as_template(self._loader.get_text_file_contents(source))
        searchpath = list(task_vars.get("ansible_search_path", [])) + [self._loader.get_basedir(),
                                                                         os.path.dirname(source)]
        searchpath = [q for p in searchpath for q in (os.path.join(p, "templates"), p)]
        template_vars = dict(task_vars, **(extra_vars or {}))
        # ansible_managed as ansible.builtin.template gives it (its configured text, "Ansible managed" by default),
        # made here: ansible-core asks collections to inline it rather than call its helper (deprecated for 2.23).
        # A variable of that name, if one is set, wins, as with the template module.
        template_vars.setdefault("ansible_managed", managed_text(template))
        templar = self._templar.copy_with_new_env(searchpath=searchpath, available_variables=template_vars)
        # ansible.builtin.template's defaults, so a file renders byte for byte as it did with that module.
        rendered = templar.template(data, escape_backslashes=False,
                                    overrides=dict(trim_blocks=True, lstrip_blocks=False, newline_sequence="\n"))
        return "" if rendered is None else to_text(rendered)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        files = args.get("files")
        if not isinstance(files, list):
            raise AnsibleActionFail("files must be a list of paths to write or make")
        defaults = {k: args[k] for k in ("owner", "group", "mode") if args.get(k) is not None}
        entries = []
        for given in files:
            if not isinstance(given, dict) or not given.get("path"):
                raise AnsibleActionFail("each entry of files needs a path, got %r" % (given,))
            unknown = set(given) - ENTRY_KEYS
            if unknown:
                raise AnsibleActionFail("%s: unknown keys %s" % (given["path"], ", ".join(sorted(unknown))))
            # skip: an entry that does not apply to this host (e.g. a folder for a store kind it does not use).
            if boolean(given.get("skip", False), strict=True):
                continue
            state = given.get("state", "file")
            sources = [k for k in SOURCES if given.get(k) is not None]
            if state == "absent":  # its source, if given, is not read
                entries.append({"path": given["path"], "state": "absent"})
                continue
            if state == "link":
                if sources or not given.get("target"):
                    raise AnsibleActionFail("%s: a link takes a target and no %s" % (given["path"], ", ".join(SOURCES)))
                entries.append({"path": given["path"], "state": "link", "target": given["target"]})
                continue
            entry = dict(defaults, **{k: v for k, v in given.items() if k not in SOURCES + ("skip", "vars")})
            missing = [k for k in ("owner", "group", "mode") if entry.get(k) is None]
            if missing:
                raise AnsibleActionFail("%s: no %s (give it on the entry or the task)" % (given["path"], ", ".join(missing)))
            entry["mode"] = str(entry["mode"])
            if state == "directory":
                if sources:
                    raise AnsibleActionFail("%s: a folder takes no %s" % (given["path"], sources[0]))
            elif len(sources) != 1:
                raise AnsibleActionFail("%s: give exactly one of template, src, content" % given["path"])
            else:
                try:
                    if sources[0] == "template":
                        entry["content"] = self.render(given["template"], task_vars, given.get("vars"))
                    elif sources[0] == "src":
                        entry["content"] = self._loader.get_text_file_contents(self._find_needle("files", given["src"]))
                    else:
                        entry["content"] = to_text(given["content"])
                except AnsibleError as e:
                    raise AnsibleActionFail("%s: %s" % (given["path"], to_text(e))) from e
            entries.append(entry)
        if not entries:
            return dict(result, changed=False, changed_paths=[], skipped=True, msg="no entry applies to this host")
        module_args = {"files": entries, "diffs": bool(self._play_context.diff)}
        result.update(self._execute_module(module_name="bedrock.core.files", module_args=module_args,
                                           task_vars=task_vars))
        return result
