"""The README's first command, end to end on a container: scripts/sandbox converges site.yml, says how to reach
the host and what its kind cannot apply, and a second run changes nothing."""

import os
import re
import subprocess

from conftest import REPO, launch

NAME = "pytest-sandbox"


def sandbox():
    env = dict(os.environ, BEDROCK_SANDBOX_NAME=NAME, ANSIBLE_NOCOLOR="1")
    return subprocess.run([os.path.join(REPO, "scripts", "sandbox"), "--kind", "container"], capture_output=True,
                          text=True, cwd=REPO, env=env)


def test_sandbox_converges_site_and_a_second_run_changes_nothing():
    launch("destroy", NAME, check=False)
    try:
        first = sandbox()
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
        assert "The sandbox (container) is converged." in first.stdout
        assert re.search(r"ssh: +ssh -i \S+ -p 22 .* root@\S+", first.stdout)
        assert "swap (swapon is refused inside a container)" in first.stdout
        assert "sysctl vm.swappiness: wants '10'" in first.stdout
        second = sandbox()
        assert second.returncode == 0, second.stdout[-3000:]
        recap = re.search(rf"{NAME}\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", second.stdout)
        assert recap and recap.group(1) == "0", second.stdout[-3000:]
    finally:
        launch("destroy", NAME, check=False)
