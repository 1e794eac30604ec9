import importlib
import os
import subprocess
import sys
import tomllib
import zipfile

from bedrock_tools import __version__

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(out):
    # As the host_tools role builds it: no network, no build isolation, a fixed timestamp.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                    "--wheel-dir", str(out), ROOT], check=True, env=dict(os.environ, SOURCE_DATE_EPOCH="315532800"))
    (wheel,) = out.iterdir()
    return wheel


def test_the_wheel_is_the_same_bytes_each_build_and_names_its_version(tmp_path):
    first, second = build(tmp_path / "a"), build(tmp_path / "b")
    assert first.name == f"bedrock_tools-{__version__}-py3-none-any.whl"
    # The role copies the wheel and reinstalls when it changes: a rebuild of the same source must not.
    assert first.read_bytes() == second.read_bytes()


def test_every_console_script_is_in_the_wheel_and_its_function_exists(tmp_path):
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        scripts = tomllib.load(fh)["project"]["scripts"]
    with zipfile.ZipFile(build(tmp_path)) as wheel:
        entry_points = wheel.read(f"bedrock_tools-{__version__}.dist-info/entry_points.txt").decode()
    for name, target in scripts.items():
        assert f"{name}={target}" in entry_points.splitlines()
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function))
