#!/usr/bin/python
# -*- coding: utf-8 -*-
# Bedrock: a role's files and folders in one module run (see the action plugin of the same name).
from __future__ import annotations

DOCUMENTATION = r"""
module: files
short_description: Write several files and folders in one module run
description:
  - Makes each listed folder and writes each listed file (content rendered on the controller by the action plugin
    from a role template, a role file or an inline string), then sets owner, group and mode; the way
    M(ansible.builtin.template), M(ansible.builtin.copy) and M(ansible.builtin.file) do for one path each, but in
    one module run for all of them. Every unchanged path costs nothing more than a read and a stat.
  - Files are written to a temporary file in the same folder and renamed over the old one (atomic).
  - A folder with O(files[].contents) holds one file per key; with O(files[].exclusive) other regular files in it
    are removed.
  - A link (O(files[].state=link)) points at O(files[].target); a file there is replaced by the link, atomically.
  - Supports check mode and diff mode (one diff per changed path).
  - >-
    An entry marked O(files[].secret) (credentials, password verifiers) shows no content in its diff and none in
    the module arguments this module returns: a task may then write secret and plain files together without
    C(no_log), and the plain files' diffs stay visible.
options:
  files:
    description: Paths in the order they are made (a folder before the files in it).
    type: list
    elements: dict
    required: true
    suboptions:
      path: {description: An absolute path., type: path, required: true}
      state: {description: "What the path is (absent: a file removed if there).", type: str, choices: [file, directory, link, absent], default: file}
      target: {description: "What a link points at (state=link).", type: path}
      content: {description: The file's text (state=file)., type: str}
      owner: {description: Owning user (not for state=absent)., type: str}
      group: {description: Owning group (not for state=absent)., type: str}
      mode: {description: Mode as an octal string (not for state=absent)., type: str}
      contents: {description: "For a folder, file name -> text: files written into it.", type: dict}
      file_mode: {description: "Mode of the files written from O(files[].contents).", type: str}
      exclusive: {description: "Remove regular files in the folder that O(files[].contents) does not name.", type: bool}
      secret: {description: "Keep the content (or O(files[].contents)) out of diffs and the returned arguments.", type: bool, default: false}
  diffs:
    description: Return a diff per changed path (the action plugin passes the run's diff mode).
    type: bool
    default: false
author: Bedrock
"""

RETURN = r"""
changed_paths:
  description: The paths that were (or in check mode would be) made, written, changed or removed.
  type: list
  elements: str
  returned: always
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text

# Diffs of bigger files are summarised (the template module does the same above its own limit).
MAX_DIFF_BYTES = 104448
HIDDEN = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def text_for_diff(data):
    if data is None:
        return ""
    if len(data) > MAX_DIFF_BYTES or b"\0" in data:
        return "(%d bytes, not shown)\n" % len(data)
    return to_text(data, errors="surrogate_or_strict")


class Writer:
    def __init__(self, module):
        self.module = module
        self.check = module.check_mode
        self.changed_paths = []
        self.diffs = []

    def changed(self, path, diff=None):
        if path not in self.changed_paths:
            self.changed_paths.append(path)
        if diff is not None and self.module.params["diffs"]:
            self.diffs.append(diff)

    def attributes(self, path, owner, group, mode, made=False):
        """Owner, group and mode as wanted; in check mode a user or group this run has yet to make counts as a
        change, not a failure. A path made just now has its content diff already, not a second one."""
        if self.check:
            import grp
            import pwd
            try:
                pwd.getpwnam(owner)
                grp.getgrnam(group)
            except KeyError:
                self.changed(path, {"before_header": path, "after_header": path,
                                    "before": "", "after": "owner %s, group %s (to be made)\n" % (owner, group)})
                return
        diff = {"before": {"path": path}, "after": {"path": path}}
        args = {"path": path, "owner": owner, "group": group, "mode": mode, "attributes": None,
                "secontext": [None, None, None], "seuser": None, "serole": None, "selevel": None, "setype": None}
        if self.module.set_fs_attributes_if_different(args, False, diff):
            self.changed(path, None if made else diff)

    def directory(self, entry):
        path = entry["path"]
        existed = os.path.isdir(path)
        if os.path.lexists(path) and not existed:
            self.module.fail_json(msg="%s exists and is not a folder" % path, changed_paths=self.changed_paths)
        if not existed:
            self.changed(path, {"before": {"path": path, "state": "absent"},
                                "after": {"path": path, "state": "directory"}})
            if self.check:
                for name in sorted(entry.get("contents") or {}):
                    self.changed(os.path.join(path, name))
                return
            try:
                os.makedirs(path)
            except OSError as e:
                self.module.fail_json(msg="cannot make folder %s: %s" % (path, e), changed_paths=self.changed_paths)
        self.attributes(path, entry["owner"], entry["group"], entry["mode"], made=not existed)
        contents = entry.get("contents")
        if contents is None:
            return
        for name in sorted(contents):
            if "/" in name or name in (".", ".."):
                self.module.fail_json(msg="%s: %r is not a file name" % (path, name))
            self.file({"path": os.path.join(path, name), "content": contents[name], "owner": entry["owner"],
                       "group": entry["group"], "mode": entry["file_mode"], "secret": entry.get("secret")})
        if entry.get("exclusive"):
            for name in sorted(os.listdir(path)):
                other = os.path.join(path, name)
                if name not in contents and not (os.path.isdir(other) and not os.path.islink(other)):
                    self.absent({"path": other})

    def absent(self, entry):
        path = entry["path"]
        if os.path.isdir(path) and not os.path.islink(path):
            self.module.fail_json(msg="%s is a folder; only files are removed" % path, changed_paths=self.changed_paths)
        if os.path.lexists(path):
            self.changed(path, {"before": {"path": path, "state": "file"}, "after": {"path": path, "state": "absent"}})
            if not self.check:
                os.unlink(path)

    def link(self, entry):
        path, target = entry["path"], entry["target"]
        before = os.readlink(path) if os.path.islink(path) else None
        if before == target:
            return
        if os.path.isdir(path) and before is None:
            self.module.fail_json(msg="%s is a folder, not a link" % path, changed_paths=self.changed_paths)
        self.changed(path, {"before": {"path": path, "state": "absent" if not os.path.lexists(path)
                                       else "link to %s" % before if before else "file"},
                            "after": {"path": path, "state": "link to %s" % target}})
        if self.check:
            return
        tmp = os.path.join(os.path.dirname(path), ".%s.%d.link" % (os.path.basename(path), os.getpid()))
        try:
            os.symlink(target, tmp)
            os.replace(tmp, path)
        except OSError as e:
            self.module.fail_json(msg="cannot link %s to %s: %s" % (path, target, e), changed_paths=self.changed_paths)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)

    def file(self, entry):
        path = entry["path"]
        secret = entry.get("secret")
        want = to_bytes(entry.get("content") or "", errors="surrogate_or_strict")
        if os.path.isdir(path):
            self.module.fail_json(msg="%s is a folder, not a file" % path, changed_paths=self.changed_paths)
        have = None
        if os.path.lexists(path):
            with open(path, "rb") as fh:
                have = fh.read()
        folder = os.path.dirname(path)
        if have != want:
            self.changed(path, {"before_header": path if have is not None else "%s (absent)" % path,
                                "after_header": path,
                                "before": "(secret, not shown)\n" if secret and have is not None else text_for_diff(have),
                                "after": "(secret, changed)\n" if secret else text_for_diff(want)})
            if self.check:
                if have is None:
                    return
            else:
                if not os.path.isdir(folder):
                    self.module.fail_json(msg="cannot write %s: folder %s does not exist" % (path, folder),
                                          changed_paths=self.changed_paths)
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=".%s." % os.path.basename(path))
                try:
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(want)
                        fh.flush()
                        os.fsync(fh.fileno())
                    self.module.atomic_move(tmp, path)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
        self.attributes(path, entry["owner"], entry["group"], entry["mode"], made=have is None)


def main():
    entry_spec = dict(
        path=dict(type="path", required=True),
        state=dict(type="str", choices=["file", "directory", "link", "absent"], default="file"),
        target=dict(type="path"),
        content=dict(type="str"),
        owner=dict(type="str"),
        group=dict(type="str"),
        mode=dict(type="str"),
        contents=dict(type="dict"),
        file_mode=dict(type="str"),
        exclusive=dict(type="bool", default=False),
        secret=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=dict(files=dict(type="list", elements="dict", required=True, options=entry_spec),
                           diffs=dict(type="bool", default=False)),
        supports_check_mode=True,
    )
    writer = Writer(module)
    entries = [dict(entry) for entry in module.params["files"]]
    # Every exit returns module.params as the invocation: secret contents are replaced there, not in what is written.
    for entry in module.params["files"]:
        if entry.get("secret"):
            entry.update({k: HIDDEN if k == "content" else {name: HIDDEN for name in entry[k]}
                          for k in ("content", "contents") if entry.get(k) is not None})
    for entry in entries:
        if not os.path.isabs(entry["path"]):
            module.fail_json(msg="path %r is not absolute" % entry["path"])
        if entry["state"] == "absent":
            writer.absent(entry)
            continue
        if entry["state"] == "link":
            if not entry.get("target"):
                module.fail_json(msg="%s: a link needs a target" % entry["path"])
            writer.link(entry)
            continue
        missing = [k for k in ("owner", "group", "mode") if not entry.get(k)]
        if missing:
            module.fail_json(msg="%s: no %s" % (entry["path"], ", ".join(missing)))
        if entry["state"] == "directory":
            if entry.get("contents") is not None and not entry.get("file_mode"):
                module.fail_json(msg="%s: contents need a file_mode" % entry["path"])
            writer.directory(entry)
        else:
            writer.file(entry)
    module.exit_json(changed=bool(writer.changed_paths), changed_paths=writer.changed_paths, diff=writer.diffs)


if __name__ == "__main__":
    main()
