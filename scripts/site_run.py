"""Runs site.yml with Ansible's JSON stdout callback and returns the parsed run (shared by scripts/audit and
scripts/bench-site); sums task timings per role (bench-site and profile-log)."""

import json
import os
import subprocess
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def run_site(*args):
    """ansible-playbook <args> site.yml; returns (run as a dict, or None if no JSON came out; the process; seconds).

    The timer callback adds each task's start/end times to the JSON; warnings may precede the JSON document."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_CALLBACKS_ENABLED="ansible.posix.timer",
               ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    started = time.time()
    res = subprocess.run(["ansible-playbook", *args, os.path.join(REPO, "site.yml")], capture_output=True, text=True,
                         cwd=REPO, env=env)
    wall = time.time() - started
    try:
        run = json.JSONDecoder().raw_decode(res.stdout[res.stdout.index("{"):])[0]
    except ValueError:
        run = None
    return run, res, wall


def per_role(tasks):
    """{role: {tasks, seconds}} for [{"task": "role : name", "seconds": s}, ...], slowest role first."""
    roles = {}
    for t in tasks:
        role = t["task"].split(" : ")[0] if " : " in t["task"] else "(play)"
        entry = roles.setdefault(role, {"tasks": 0, "seconds": 0.0})
        entry["tasks"] += 1
        entry["seconds"] = round(entry["seconds"] + t["seconds"], 2)
    return dict(sorted(roles.items(), key=lambda kv: -kv[1]["seconds"]))
