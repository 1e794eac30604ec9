# -*- coding: utf-8 -*-
# Bedrock: which filesystem a path lies on, from the pre-flight's read of /proc/mounts (the path need not exist).
from __future__ import annotations

from ansible_collections.bedrock.core.plugins.module_utils.rules import mount_point

DOCUMENTATION = r"""
name: mount_point
short_description: The mount point a path lies on
description:
  - The longest mount point in O(proc_mounts) that is O(_input) or one of its folders; C(/) when none is.
options:
  _input: {description: An absolute path (it need not exist yet)., type: str, required: true}
  proc_mounts: {description: The host's /proc/mounts text., type: str, required: true}
"""

RETURN = r"""
_value: {description: The mount point., type: str}
"""


class FilterModule:
    def filters(self):
        return {"mount_point": mount_point}
