"""The launcher's decisions that need no host: mirror discovery, image cache keys, names, allocation."""

import json
import os
import subprocess

import pytest

from conftest import LAUNCHER


def test_mirror_is_read_from_deb822_sources(launcher, tmp_path, monkeypatch):
    monkeypatch.delenv("BEDROCK_DEBIAN_MIRROR", raising=False)
    sources = tmp_path / "debian.sources"
    sources.write_text("Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\nComponents: main\n\n"
                       "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n")
    assert launcher.runner_mirror([str(sources)]) == "http://mirror.example/debian"


def test_mirror_is_read_from_one_line_sources(launcher, tmp_path, monkeypatch):
    monkeypatch.delenv("BEDROCK_DEBIAN_MIRROR", raising=False)
    sources = tmp_path / "sources.list"
    sources.write_text("# comment\ndeb [arch=amd64] http://other.example/debian bookworm main\n")
    assert launcher.runner_mirror([str(sources)]) == "http://other.example/debian"


def test_image_key_follows_the_recipe(launcher, monkeypatch):
    first = launcher.image_paths("container")["dir"]
    assert launcher.image_paths("container")["dir"] == first, "the same recipe must give the same cache key"
    assert launcher.image_paths("vm")["dir"] != first
    monkeypatch.setattr(launcher, "BASE_PACKAGES", launcher.BASE_PACKAGES + ["htop"])
    assert launcher.image_paths("container")["dir"] != first, "a changed package list must build a new image"


def test_each_debian_release_has_its_own_image_and_bookworm_keeps_its_key(launcher):
    bookworm = launcher.image_paths("container")["dir"]
    assert launcher.image_paths("container", "bookworm")["dir"] == bookworm, "bookworm stays the default"
    assert launcher.image_paths("container", "trixie")["dir"] != bookworm
    assert launcher.recipe("vm", "trixie")["suite"] == "trixie"
    # The recipe of a bookworm image is the one before releases were selectable: cached images stay valid.
    assert set(launcher.recipe("container")) == {"format", "kind", "suite", "variant", "mirror", "packages",
                                                 "seed_script", "seed_unit", "size"}


def test_an_unknown_release_is_refused_before_anything_is_made(tmp_path):
    res = subprocess.run([LAUNCHER, "create", "pytest-never", "--distro", "buster"], capture_output=True, text=True,
                         env=dict(os.environ, BEDROCK_STATE_DIR=str(tmp_path)))
    assert res.returncode != 0 and "invalid choice: 'buster'" in res.stderr
    assert not os.path.exists(os.path.join(tmp_path, "hosts"))


def test_vm_extra_packages_change_only_the_vm_image(launcher, monkeypatch):
    container, vm = launcher.image_paths("container")["dir"], launcher.image_paths("vm")["dir"]
    monkeypatch.setattr(launcher, "VM_EXTRA_PACKAGES", ["postgresql-15"])
    assert launcher.image_paths("container")["dir"] == container
    assert launcher.image_paths("vm")["dir"] != vm


@pytest.mark.parametrize("name", ["Bad_Name", "-leading-dash", "a" * 64, "with space"])
def test_bad_host_names_are_refused_before_anything_is_made(launcher, tmp_path, monkeypatch, name):
    monkeypatch.setattr(launcher, "STATE_DIR", str(tmp_path))
    with pytest.raises(launcher.LauncherError, match="host name"):
        launcher.main(["create", "--", name])
    assert not (tmp_path / "hosts").exists()


def test_allocation_skips_numbers_in_use(launcher, tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "STATE_DIR", str(tmp_path))
    for number, name in ((10, "a"), (11, "b")):
        os.makedirs(tmp_path / "hosts" / name)
        (tmp_path / "hosts" / name / "host.json").write_text(json.dumps({"name": name, "number": number}))
    host = launcher.allocate("c", "container")
    assert host["number"] == 12
    assert host["address"] == f"{launcher.SUBNET}.12"
    vm = launcher.allocate("d", "vm")
    assert vm["address"] == "127.0.0.1" and vm["port"] == launcher.VM_SSH_PORT_BASE + 12
    assert vm["tap"] == f"t{launcher.SUBNET_TAG}n12" and vm["bridge_mac"].endswith(":0c")


def test_unknown_host_is_a_clear_error(launcher, tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "STATE_DIR", str(tmp_path))
    with pytest.raises(launcher.LauncherError, match="no test host named 'ghost'"):
        launcher.main(["info", "ghost"])


def test_each_kind_says_what_it_cannot_apply(launcher):
    assert any("vm.*" in item for item in launcher.CANNOT_APPLY["container"])
    assert any("swap" in item for item in launcher.CANNOT_APPLY["container"])
    assert launcher.CANNOT_APPLY["vm"] == []
