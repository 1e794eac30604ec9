"""Loads the launcher (a script without .py) as a module, and offers helpers for live runner checks."""

import importlib.machinery
import importlib.util
import os
import subprocess

import pytest

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
LAUNCHER = os.path.join(SCRIPTS, "testhost")


def load_launcher():
    loader = importlib.machinery.SourceFileLoader("testhost", LAUNCHER)
    spec = importlib.util.spec_from_loader("testhost", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture
def launcher():
    return load_launcher()


def launch(*args, check=True):
    return subprocess.run([LAUNCHER, *args], capture_output=True, text=True, check=check)


def runner_state():
    return subprocess.run([os.path.join(SCRIPTS, "runner-state")], capture_output=True, text=True, check=True).stdout
