# -*- coding: utf-8 -*-
# Bedrock: the kind of filesystem a path lies on (a network filesystem, or this host's own disk), from the
# pre-flight's read of /proc/mounts (the path need not exist).
from __future__ import annotations

from ansible_collections.bedrock.core.plugins.module_utils.rules import mount_type

DOCUMENTATION = r"""
name: mount_type
short_description: The filesystem type of the mount a path lies on
description:
  - The type (ext4, tmpfs, nfs4 ...) of the longest mount point in O(proc_mounts) that is O(_input) or one of its
    folders; empty when none is.
options:
  _input: {description: An absolute path (it need not exist yet)., type: str, required: true}
  proc_mounts: {description: The host's /proc/mounts text., type: str, required: true}
"""

RETURN = r"""
_value: {description: The filesystem type., type: str}
"""


class FilterModule:
    def filters(self):
        return {"mount_type": mount_type}
