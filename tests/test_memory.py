"""The memory budget: the tightest real limit, read portably, before anything allocates."""

import builtins
import os
import subprocess
import sys
import textwrap
from collections import namedtuple

import psutil
import pytest

try:
    import resource
except ImportError:  # Windows
    resource = None

import fastcheck.runtime.memory as memory
from fastcheck.errors import MemoryBudgetError

GiB = 2**30
MiB = 2**20
VirtualMemory = namedtuple("VirtualMemory", "total available")


@pytest.fixture
def system_available(monkeypatch):
    """psutil says 16 GiB are available; no rlimits, no cgroups unless a test adds them."""
    monkeypatch.setattr(psutil, "virtual_memory", lambda: VirtualMemory(64 * GiB, 16 * GiB))
    if resource is not None:
        monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY,) * 2)
    return 16 * GiB


def test_no_linux_sources_uses_psutil(monkeypatch, system_available):
    """As on macOS or Windows: no /proc or /sys, no SC_AVPHYS_PAGES."""
    real_open, real_sysconf = builtins.open, os.sysconf

    def no_linux_open(path, *args, **kwargs):
        if str(path).startswith(("/proc", "/sys")):
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_open(path, *args, **kwargs)

    def no_avphys_pages(name):
        if name == "SC_AVPHYS_PAGES":
            raise ValueError("unrecognized configuration name")
        return real_sysconf(name)

    monkeypatch.setattr(builtins, "open", no_linux_open)
    monkeypatch.setattr(os, "sysconf", no_avphys_pages)
    assert memory.available_bytes() == system_available
    memory.ensure_fits(system_available // 2, "a check")
    with pytest.raises(MemoryBudgetError, match="only 16 GB is available"):
        memory.ensure_fits(system_available, "a check")


def test_no_resource_module(monkeypatch, system_available):
    """Windows has no ``resource`` module: psutil alone decides."""
    monkeypatch.setattr(memory, "resource", None, raising=False)
    monkeypatch.setattr(memory, "PROC_SELF", "/nonexistent/proc/self", raising=False)
    assert memory.available_bytes() == system_available


@pytest.mark.skipif(resource is None, reason="no rlimits on this platform")
def test_rlimits_bound_the_budget(monkeypatch, system_available):
    limits = {resource.RLIMIT_AS: 9 * GiB, resource.RLIMIT_DATA: 6 * GiB}
    monkeypatch.setattr(resource, "getrlimit", lambda which: (
        limits.get(which, resource.RLIM_INFINITY), resource.RLIM_INFINITY))
    usage = namedtuple("pmem", "rss vms data")(1 * GiB, 4 * GiB, 2 * GiB)
    monkeypatch.setattr(psutil.Process, "memory_info", lambda self: usage)
    monkeypatch.setattr(memory, "PROC_SELF", "/nonexistent/proc/self", raising=False)
    assert memory.rlimit_headroom() == [5 * GiB, 4 * GiB]
    assert memory.available_bytes() == 4 * GiB


def fake_cgroups(tmp_path, monkeypatch, version, levels, membership, mount_root="/"):
    """A /proc/self and a cgroup mount under tmp_path. ``levels`` maps a cgroup
    path to (limit, usage, inactive file) of that level."""
    proc = tmp_path / "proc" / "self"
    proc.mkdir(parents=True)
    mount = tmp_path / "cgroup"
    if version == 2:
        (proc / "cgroup").write_text(f"0::{membership}\n")
        mountline = f"30 24 0:26 {mount_root} {mount} rw,nosuid - cgroup2 cgroup2 rw\n"
        files = ("memory.max", "memory.current", "inactive_file")
    else:
        (proc / "cgroup").write_text(f"5:cpu:/\n4:memory:{membership}\n0::/\n")
        mountline = (f"33 25 0:28 {mount_root} {mount} rw,nosuid shared:15 - cgroup cgroup "
                     "rw,memory\n")
        files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
    (proc / "mountinfo").write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n" + mountline)
    for path, (limit, usage, inactive) in levels.items():
        directory = mount / path.strip("/")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / files[0]).write_text(f"{limit}\n")
        (directory / files[1]).write_text(f"{usage}\n")
        (directory / "memory.stat").write_text(f"cache 1\n{files[2]} {inactive}\nrss 2\n")
    monkeypatch.setattr(memory, "PROC_SELF", str(proc), raising=False)


def test_cgroup_v2_limit_and_ancestors(tmp_path, monkeypatch, system_available):
    """The job's own limit leaves 1.5 GiB (2 GiB - (1 GiB used - 0.5 GiB reclaimable));
    its parent slice's leaves only 1 GiB: the tighter one wins."""
    fake_cgroups(tmp_path, monkeypatch, 2, {
        "/": ("max", 20 * GiB, 0),
        "/user.slice": (3 * GiB, 2 * GiB, 0),
        "/user.slice/job": (2 * GiB, 1 * GiB, GiB // 2),
    }, "/user.slice/job")
    assert sorted(memory.cgroup_headroom()) == [1 * GiB, 3 * GiB // 2]
    assert memory.available_bytes() == 1 * GiB
    with pytest.raises(MemoryBudgetError):
        memory.ensure_fits(900 * MiB, "a check")


def test_cgroup_v2_in_a_container(tmp_path, monkeypatch, system_available):
    """Inside a container's cgroup namespace the process sits at the mount's root."""
    fake_cgroups(tmp_path, monkeypatch, 2, {"/": (4 * GiB, 3 * GiB, 0)}, "/")
    assert memory.available_bytes() == 1 * GiB


def test_cgroup_v1_limit(tmp_path, monkeypatch, system_available):
    fake_cgroups(tmp_path, monkeypatch, 1, {
        "/": (9223372036854771712, 30 * GiB, 0),  # v1's "no limit"
        "/docker/abc": (2 * GiB, 3 * GiB // 2, GiB // 4),
    }, "/docker/abc")
    assert memory.cgroup_headroom() == [3 * GiB // 4]
    assert memory.available_bytes() == 3 * GiB // 4


def test_cgroup_v1_bind_mounted_container(tmp_path, monkeypatch, system_available):
    """Docker without a cgroup namespace: /proc/self/cgroup names /docker/abc but
    the mount's root *is* /docker/abc, mounted where the root would be."""
    fake_cgroups(tmp_path, monkeypatch, 1, {"/": (2 * GiB, 1 * GiB, 0)},
                 "/docker/abc", mount_root="/docker/abc")
    assert memory.available_bytes() == 1 * GiB


def test_small_needs_never_ask(monkeypatch):
    def fail():
        raise AssertionError("asked the system for a small need")

    monkeypatch.setattr(memory, "available_bytes", fail)
    memory.ensure_fits(memory.SMALL_BYTES - 1, "a check")


def test_message_unchanged(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 100 * MiB)
    with pytest.raises(MemoryBudgetError) as info:
        memory.ensure_fits(200 * MiB, "the generic engine on 5 parameters with 2 threads")
    assert str(info.value) == (
        "the generic engine on 5 parameters with 2 threads needs about 200 MB of scratch, "
        "but only 100 MB is available; check a sample (sample=10_000), use fewer threads "
        "(each holds a copy of theta), or the layered engine for models")


def test_format_bytes():
    assert [memory.format_bytes(n) for n in (0, 1023, 1536, 5 * MiB, 3 * GiB, 2**45)] == [
        "0 B", "1023 B", "1.5 KB", "5 MB", "3 GB", "3.28e+04 GB"]


RLIMIT_SCRIPT = textwrap.dedent("""
    import resource
    import psutil
    from fastcheck.errors import MemoryBudgetError
    from fastcheck.runtime.memory import ensure_fits

    MiB = 2**20
    vms = psutil.Process().memory_info().vms
    resource.setrlimit(resource.RLIMIT_AS, (vms + 512 * MiB, resource.RLIM_INFINITY))
    ensure_fits(100 * MiB, "a small check")
    try:
        ensure_fits(4096 * MiB, "a large check")
    except MemoryBudgetError as exc:
        print("MemoryBudgetError:", exc)
    else:
        print("fits")
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_rlimit_as_in_a_subprocess():
    """Under ``ulimit -v`` a too-large need is a MemoryBudgetError, not NumPy's
    MemoryError later; a small one still fits."""
    if psutil.virtual_memory().available < 4096 * MiB / memory.HEADROOM:
        pytest.skip("4 GB would not fit this machine even without the limit")
    run = subprocess.run([sys.executable, "-c", RLIMIT_SCRIPT], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("MemoryBudgetError: a large check needs about 4 GB"), run.stdout
