"""bedrock.core.files and bedrock.core.host_state, run on the runner itself against a temporary folder only.

Every role writes its files through bedrock.core.files (one module run for all of a role's files); these tests pin
what the roles rely on: byte-exact writes, owner/group/mode, nothing reported on a second run, check mode that
reports without touching (also for an owner that does not exist yet), diffs, a folder that holds exactly the listed
files, removal, and refusals that name the path."""

import json
import os
import pwd
import grp
import stat
import subprocess

import yaml

from conftest import REPO

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def play(tmp_path, tasks, *args):
    """Runs tasks on localhost; returns (exit code, {task name: result}, output)."""
    (tmp_path / "templates").mkdir(exist_ok=True)
    book = tmp_path / "play.yml"
    book.write_text(yaml.safe_dump([{"name": "t", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.timer", ANSIBLE_NOCOLOR="1")
    res = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(book), *args],
                         capture_output=True, text=True, env=env, cwd=REPO)
    out = res.stdout
    run = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]
    results = {t["task"]["name"]: t["hosts"]["localhost"] for p in run["plays"] for t in p["tasks"]}
    return res.returncode, results, out + res.stderr


def files_task(name, files, **defaults):
    return {"name": name, "bedrock.core.files": dict(defaults, files=files)}


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_files_and_folders_then_reports_nothing(tmp_path):
    (tmp_path / "templates" / "conf.j2").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "templates" / "conf.j2").write_text("name={{ wanted }}\n{% if true %}\nkept\n{% endif %}\n")
    root = tmp_path / "out"
    entries = [{"path": str(root), "state": "directory", "mode": "0750"},
               {"path": str(root / "conf"), "template": "conf.j2", "mode": "0640"},
               {"path": str(root / "inline"), "content": "a\nb"},
               {"path": str(root / "env"), "state": "directory", "mode": "0700", "file_mode": "0600",
                "contents": {"A": "1", "B": "two"}, "exclusive": True}]
    task = dict(files_task("write", entries, owner=ME, group=MY_GROUP, mode="0644"), vars={"wanted": "x"})
    rc, res, out = play(tmp_path, [task])
    assert rc == 0, out
    assert res["write"]["changed"]
    # Rendered as ansible.builtin.template renders (trim_blocks), content byte for byte.
    assert (root / "conf").read_text() == "name=x\nkept\n"
    assert not res["write"].get("diff"), "diffs are returned only in diff mode"
    assert (root / "inline").read_text() == "a\nb"
    assert (root / "env" / "B").read_text() == "two"
    assert (mode_of(root), mode_of(root / "conf"), mode_of(root / "inline")) == (0o750, 0o640, 0o644)
    assert (mode_of(root / "env"), mode_of(root / "env" / "A")) == (0o700, 0o600)
    assert sorted(res["write"]["changed_paths"]) == sorted([str(root), str(root / "conf"), str(root / "inline"),
                                                            str(root / "env"), str(root / "env" / "A"),
                                                            str(root / "env" / "B")])
    rc, res, out = play(tmp_path, [task])
    assert rc == 0 and not res["write"]["changed"] and res["write"]["changed_paths"] == [], out


def test_check_mode_reports_drift_with_diffs_and_touches_nothing(tmp_path):
    root = tmp_path / "out"
    entries = [{"path": str(root), "state": "directory", "mode": "0755"},
               {"path": str(root / "conf"), "content": "wanted\n", "mode": "0644"},
               {"path": str(root / "env"), "state": "directory", "mode": "0700", "file_mode": "0600",
                "contents": {"A": "1"}, "exclusive": True},
               {"path": str(root / "old"), "state": "absent"}]
    task = files_task("write", entries, owner=ME, group=MY_GROUP)
    assert play(tmp_path, [task])[0] == 0
    (root / "conf").write_text("edited by hand\n")
    os.chmod(root / "env" / "A", 0o644)
    (root / "env" / "STRAY").write_text("left from another store kind")
    (root / "old").write_text("to go")
    rc, res, out = play(tmp_path, [task], "--check", "--diff")
    assert rc == 0 and res["write"]["changed"], out
    assert sorted(res["write"]["changed_paths"]) == sorted([str(root / "conf"), str(root / "env" / "A"),
                                                            str(root / "env" / "STRAY"), str(root / "old")])
    diffs = res["write"]["diff"]
    assert {"before_header": str(root / "conf"), "after_header": str(root / "conf"),
            "before": "edited by hand\n", "after": "wanted\n"} in diffs
    assert any(d.get("before", {}).get("mode") == "0644" and d.get("after", {}).get("mode") == "0600"
               for d in diffs if isinstance(d.get("before"), dict))
    # Nothing changed on disk.
    assert (root / "conf").read_text() == "edited by hand\n" and (root / "env" / "STRAY").exists()
    assert (root / "old").exists() and mode_of(root / "env" / "A") == 0o644
    # The real run repairs all of it.
    rc, res, out = play(tmp_path, [task])
    assert rc == 0 and res["write"]["changed"], out
    assert (root / "conf").read_text() == "wanted\n" and not (root / "env" / "STRAY").exists()
    assert not (root / "old").exists() and mode_of(root / "env" / "A") == 0o600


def test_secret_entries_show_no_content_while_plain_ones_keep_their_diff(tmp_path):
    """A secret (a userlist, an envdir of credentials) written beside plain files by one task without no_log: its
    content is in neither the diff nor the returned arguments nor the output; the plain file's diff is whole."""
    root = tmp_path / "out"
    root.mkdir()
    entries = [{"path": str(root / "userlist"), "content": '"app" "SCRAM-SHA-256$4096:s3cr3tverifier"\n', "secret": True},
               {"path": str(root / "env"), "state": "directory", "mode": "0700", "file_mode": "0600",
                "contents": {"AWS_SECRET_ACCESS_KEY": "hunter2-key"}, "secret": True},
               {"path": str(root / "plain.ini"), "content": "pool_size = 10\n"}]
    task = files_task("write", entries, owner=ME, group=MY_GROUP, mode="0640")
    rc, res, out = play(tmp_path, [task], "--diff")
    assert rc == 0 and res["write"]["changed"], out
    assert (root / "userlist").read_text() == '"app" "SCRAM-SHA-256$4096:s3cr3tverifier"\n'
    assert (root / "env" / "AWS_SECRET_ACCESS_KEY").read_text() == "hunter2-key"
    assert "s3cr3tverifier" not in out and "hunter2-key" not in out
    assert {"before_header": str(root / "plain.ini"), "after_header": str(root / "plain.ini"), "before": "",
            "after": "pool_size = 10\n"} in [{**d, "before_header": d["before_header"].replace(" (absent)", "")}
                                               for d in res["write"]["diff"] if "after_header" in d]
    (root / "userlist").write_text("edited by hand\n")
    rc, res, out = play(tmp_path, [task], "--check", "--diff")
    assert rc == 0 and res["write"]["changed_paths"] == [str(root / "userlist")], out
    assert res["write"]["diff"][0]["after"] == "(secret, changed)\n" and "edited by hand" not in out


def test_check_mode_on_a_fresh_host_does_not_fail(tmp_path):
    """Folders not made yet and an owner that an earlier task (a package) would create: reported, not failed."""
    root = tmp_path / "absent-yet"
    entries = [{"path": str(root), "state": "directory", "mode": "0755", "contents": {"X": "1"}, "file_mode": "0600"},
               {"path": str(root / "conf"), "content": "x\n", "mode": "0644"},
               {"path": str(tmp_path / "owned"), "content": "y\n", "mode": "0640", "owner": "bedrock-no-such-user",
                "group": "bedrock-no-such-group"}]
    (tmp_path / "owned").write_text("y\n")
    rc, res, out = play(tmp_path, [files_task("write", entries, owner=ME, group=MY_GROUP)], "--check")
    assert rc == 0 and res["write"]["changed"], out
    assert str(tmp_path / "owned") in res["write"]["changed_paths"] and not root.exists()


def test_a_link_replaces_a_file_atomically_then_reports_nothing(tmp_path):
    # The host_tools role links its console scripts over the loose files earlier releases wrote.
    (tmp_path / "old").write_text("#!/bin/sh\n")
    (tmp_path / "venv-tool").write_text("#!/bin/sh\n")
    entries = [{"path": str(tmp_path / "old"), "state": "link", "target": str(tmp_path / "venv-tool")},
               {"path": str(tmp_path / "new"), "state": "link", "target": str(tmp_path / "venv-tool")}]
    rc, res, out = play(tmp_path, [files_task("check", entries)], "--check")
    assert rc == 0 and res["check"]["changed_paths"] == [str(tmp_path / "old"), str(tmp_path / "new")], out
    assert not (tmp_path / "old").is_symlink() and not (tmp_path / "new").exists()
    rc, res, out = play(tmp_path, [files_task("link", entries), files_task("again", entries)])
    assert rc == 0 and res["link"]["changed"] and not res["again"]["changed"], out
    assert os.readlink(tmp_path / "old") == str(tmp_path / "venv-tool") == os.readlink(tmp_path / "new")
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".link")]
    rc, res, out = play(tmp_path, [files_task("bad", [{"path": str(tmp_path / "x"), "state": "link"}])])
    assert rc != 0 and "a link takes a target" in out


def test_skip_leaves_an_entry_out(tmp_path):
    entries = [{"path": str(tmp_path / "kept"), "content": "k", "mode": "0644"},
               {"path": str(tmp_path / "skipped"), "content": "s", "mode": "0644", "skip": True}]
    rc, res, out = play(tmp_path, [files_task("write", entries, owner=ME, group=MY_GROUP)])
    assert rc == 0 and (tmp_path / "kept").exists() and not (tmp_path / "skipped").exists(), out


def test_one_template_renders_into_several_files_with_each_entry_s_vars(tmp_path):
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "peer.j2").write_text("peer_id = {{ peer }}\nshared = {{ shared }}\n")
    entries = [{"path": str(tmp_path / f"peer-{n}.ini"), "template": "peer.j2", "mode": "0644", "vars": {"peer": n}}
               for n in (1, 2)]
    task = dict(files_task("write", entries, owner=ME, group=MY_GROUP), vars={"shared": "same"})
    rc, res, out = play(tmp_path, [task])
    assert rc == 0, out
    assert (tmp_path / "peer-1.ini").read_text() == "peer_id = 1\nshared = same\n"
    assert (tmp_path / "peer-2.ini").read_text() == "peer_id = 2\nshared = same\n"


def test_ansible_managed_renders_as_the_template_module_renders_it(tmp_path):
    # Every role's files start with "# {{ ansible_managed }}"; an ansible-core without the helper the plugin once
    # imported rendered nothing there. The same template through ansible.builtin.template is the reference.
    (tmp_path / "templates" / "managed.j2").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "templates" / "managed.j2").write_text("# {{ ansible_managed }}\nx={{ wanted }}\n")
    ours, theirs, named = tmp_path / "ours", tmp_path / "theirs", tmp_path / "named"
    tasks = [files_task("ours", [{"path": str(ours), "template": "managed.j2"}], owner=ME, group=MY_GROUP, mode="0644"),
             {"name": "theirs", "ansible.builtin.template": {"src": "managed.j2", "dest": str(theirs), "mode": "0644"}},
             dict(files_task("named", [{"path": str(named), "template": "managed.j2"}], owner=ME, group=MY_GROUP,
                             mode="0644"), vars={"ansible_managed": "Managed by Bedrock"})]
    rc, res, out = play(tmp_path, [dict(t, vars=dict(t.get("vars", {}), wanted=1)) for t in tasks])
    assert rc == 0, out
    assert ours.read_text() == theirs.read_text() == "# Ansible managed\nx=1\n"
    assert named.read_text() == "# Managed by Bedrock\nx=1\n"
    assert "DEPRECATION" not in out and "deprecat" not in out.lower(), out


def test_bad_entries_are_refused_with_the_path_named(tmp_path):
    cases = {
        "no mode": ([{"path": str(tmp_path / "a"), "content": "x"}], "no mode"),
        "two sources": ([{"path": str(tmp_path / "b"), "content": "x", "src": "y", "mode": "0644"}],
                        "exactly one of template, src, content"),
        "relative": ([{"path": "relative/c", "content": "x", "mode": "0644"}], "not absolute"),
        "unknown key": ([{"path": str(tmp_path / "d"), "content": "x", "mode": "0644", "mod": "0600"}],
                        "unknown keys mod"),
        "folder in the way": ([{"path": str(tmp_path), "content": "x", "mode": "0644"}], "is a folder"),
        "missing template": ([{"path": str(tmp_path / "e"), "template": "nope.j2", "mode": "0644"}], "nope.j2"),
    }
    for label, (entries, message) in cases.items():
        rc, res, out = play(tmp_path, [files_task("write", entries, owner=ME, group=MY_GROUP)])
        assert rc != 0 and res["write"].get("failed"), label
        assert message in res["write"]["msg"], (label, res["write"]["msg"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["play.yml", "templates"]


def test_host_state_reads_the_host(tmp_path):
    rc, res, out = play(tmp_path, [{"name": "read", "bedrock.core.host_state": {}}], "--check")
    assert rc == 0 and not res["read"]["changed"], out
    host = res["read"]["host"]
    with open("/proc/sys/fs/nr_open") as fh:
        assert host["files"]["/proc/sys/fs/nr_open"] == fh.read()
    with open("/etc/fstab") as fh:
        assert host["files"]["/etc/fstab"] == fh.read()
    assert "/" in [line.split()[1] for line in host["files"]["/proc/mounts"].splitlines()]
    installed = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Package}\n"], capture_output=True,
                               text=True, check=True).stdout
    assert sorted(host["packages"]) == sorted(line.split()[1] for line in installed.splitlines()
                                              if line.startswith("ii "))
    assert all(p.startswith("/etc/systemd/system/") and ".d/" in p for p in host["systemd_dropins"])
    root = pwd.getpwnam("root")
    assert host["users"]["root"]["uid"] == 0 and host["users"]["root"]["home"] == root.pw_dir
    assert sorted(host["users"]) == sorted(p.pw_name for p in pwd.getpwall())
    # A password hash never leaves the host: the field is kept only when it is a lock or empty.
    assert all(set(u.get("password", "")) <= {"!", "*"} or u["password"] == "hash" for u in host["users"].values())
    assert host["units"] == {}, "no unit was asked for"
    with open("/proc/sys/vm/swappiness") as fh:
        assert host["sysctl"]["vm.swappiness"] == fh.read().strip()
    with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
        assert host["sysctl"]["net.ipv4.ip_local_port_range"] == fh.read().rstrip("\n")
    assert "vm.drop_caches" not in host["sysctl"], "a write-only key has no value to read"
    assert "vm.stat_refresh" not in host["sysctl"], "reading it acts (folds per-CPU counters)"
    assert "vm" in host["sysctl_folders"] and all(k.rsplit(".", 1)[0] in host["sysctl_folders"] for k in host["sysctl"])
    named = {line.split()[0] for line in host["files"]["/proc/swaps"].splitlines()[1:] if line.startswith("/")}
    named |= {f[0] for f in map(str.split, host["files"]["/etc/fstab"].splitlines()) if len(f) > 2 and f[2] == "swap"
              and f[0].startswith("/")}
    assert set(host["swap_files"]) == named
    for path, seen in host["swap_files"].items():
        assert seen["exists"] == os.path.exists(path) and seen.get("size", 0) == (os.stat(path).st_size if seen["exists"] else 0)
    spool = "/var/spool/cron/crontabs"
    assert sorted(host["cron_jobs"]) == sorted(os.listdir(spool) if os.path.isdir(spool) else [])


def test_host_state_stats_the_swap_files_fstab_and_proc_swaps_name(tmp_path):
    """The swap role skips its own stat when host_state has one: same fields as ansible.builtin.stat."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "host_state", os.path.join(REPO, "collections/ansible_collections/bedrock/core/plugins/modules/host_state.py"))
    host_state = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(host_state)
    page = os.sysconf("SC_PAGE_SIZE")
    swapfile, zeros = tmp_path / "swapfile", tmp_path / "zeros"
    swapfile.write_bytes(b"\0" * (page - 10) + b"SWAPSPACE2" + b"\0" * page)  # where mkswap puts its signature
    zeros.write_bytes(b"\0" * 2 * page)
    os.chmod(swapfile, 0o600)
    fstab = (f"# comment\n{swapfile} none swap sw 0 0\n{zeros} none swap sw 0 0\n/dev/sda2 none swap sw 0 0\n"
             "UUID=x / ext4 defaults 0 1\n")
    swaps = "Filename Type Size Used Priority\n/var/gone file 1024 0 -2\n"
    seen = host_state.swap_files(fstab, swaps)
    assert seen[str(swapfile)] == {"exists": True, "size": 2 * page, "mode": "0600", "pw_name": ME, "gr_name": MY_GROUP,
                                   "signature": "swap"}
    assert seen[str(zeros)]["signature"] == "", "no mkswap signature"
    assert seen["/var/gone"] == {"exists": False}
    assert set(seen) == {str(swapfile), str(zeros), "/dev/sda2", "/var/gone"}
