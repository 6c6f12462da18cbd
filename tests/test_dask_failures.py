"""The cluster's failures become fastcheck errors that say what happened and what
to do: workers that never start (a start-up timeout, not a wait forever), a
script without its ``__main__`` guard, a worker that cannot import the cost's
module, a scheduler killed during a check. Each runs a script in a fresh
process, as a user would."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("distributed")

COST = textwrap.dedent("""
    import numpy as np

    def cost(p):
        return float(np.sum(np.sin(p["w"]) * p["w"]))
""")

CHECK = textwrap.dedent("""
    import sys, time
    import numpy as np
    import fastcheck as fc
    import fastcheck.drivers.dask as fd
    from fastcheck.errors import ClusterError
    {setup}

    def main():
        w = np.linspace(-1.0, 1.0, 12)
        start = time.perf_counter()
        try:
            res = fc.check(cost, {{"w": w}}, {{"w": np.sin(w) + w * np.cos(w)}}, jit=False,
                           workers=1, progress=False)
            print("PASSED" if res.passed else "FAILED")
        except ClusterError as exc:
            print("ClusterError", round(time.perf_counter() - start, 1), "|", exc)

    if __name__ == "__main__":
        main()
""")


def run(tmp_path, script, env=None, timeout=240):
    path = tmp_path / "user_check.py"
    path.write_text(script)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          cwd=tmp_path, env=dict(os.environ, **(env or {})), timeout=timeout)
    return done


def test_workers_that_never_start_time_out_with_a_clear_error(tmp_path):
    preload = tmp_path / "sleepy_preload.py"
    preload.write_text("import time\ntime.sleep(600)\n")
    setup = COST + "\nfd.START_SECONDS = 10\n"
    done = run(tmp_path, CHECK.format(setup=setup),
               env={"DASK_DISTRIBUTED__WORKER__PRELOAD": f'["{preload}"]'})
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout.strip().splitlines()[-1]
    assert out.startswith("ClusterError"), out
    assert "did not start within 10 s" in out and "client=" in out


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_an_unusable_loopback_is_a_cluster_error_in_bounded_time(tmp_path):
    """In a new network namespace (``unshare -n``, as root) the loopback is down."""
    path = tmp_path / "user_check.py"
    path.write_text(CHECK.format(setup=COST + "\nfd.START_SECONDS = 10\n"))
    done = subprocess.run(["unshare", "-n", sys.executable, str(path)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout.strip().splitlines()[-1]
    assert out.startswith("ClusterError"), out
    assert "127.0.0.1" in out and "client=" in out


def test_a_script_without_the_main_guard_is_told_to_add_it(tmp_path):
    unguarded = COST + textwrap.dedent("""
        import numpy as np
        import fastcheck as fc

        w = np.linspace(-1.0, 1.0, 12)
        fc.check(cost, {"w": w}, {"w": np.sin(w) + w * np.cos(w)}, jit=False, workers=1)
    """)
    done = run(tmp_path, unguarded)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("fastcheck.errors.ClusterError"), done.stderr[-3000:]
    assert 'if __name__ == "__main__":' in last


def test_a_worker_that_cannot_import_the_cost_is_told_how_to_fix_it(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "private_costs.py").write_text(COST)
    # The client imports the module, then it is gone from where workers look.
    script = textwrap.dedent(f"""
        import os, sys
        import numpy as np
        import fastcheck as fc
        from fastcheck.errors import ClusterError

        if __name__ == "__main__":
            sys.path.insert(0, {str(lib)!r})
            from private_costs import cost
            os.rename({str(lib)!r}, {str(tmp_path / "moved")!r})
            w = np.linspace(-1.0, 1.0, 12)
            try:
                fc.check(cost, {{"w": w}}, {{"w": np.sin(w) + w * np.cos(w)}}, jit=False,
                         workers=1, progress=False)
                print("PASSED")
            except ClusterError as exc:
                print("ClusterError |", exc)
    """)
    done = run(tmp_path, script)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout.strip().splitlines()[-1]
    assert out.startswith("ClusterError"), out
    assert "cannot import 'private_costs'" in out and "register_pickle_by_value" in out


KILLED = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from distributed import Client
    import fastcheck as fc
    from fastcheck.errors import ClusterError

    def cost(p):
        time.sleep(0.05)
        return float(np.sum(p["w"] ** 2))

    if __name__ == "__main__":
        w = np.linspace(-1.0, 1.0, 400)
        # The client tries to reconnect for its ``timeout`` after the scheduler
        # dies: 15 s, not a minute, so the test does not idle a worker for it.
        with Client(scheduler_file=sys.argv[1], timeout="15s") as client:
            client.wait_for_workers(1, timeout=120)
            print("STARTED", flush=True)
            start = time.perf_counter()
            try:
                fc.check(cost, {"w": w}, {"w": 2 * w}, jit=False, client=client,
                         progress=False)
                print("FINISHED", flush=True)
            except ClusterError as exc:
                print("ClusterError", time.perf_counter(), "|", exc, flush=True)
""")


@pytest.mark.slow
def test_a_killed_scheduler_is_a_cluster_error(tmp_path):
    info = tmp_path / "scheduler.json"
    path = tmp_path / "killed.py"
    path.write_text(KILLED)
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--no-dashboard", "--scheduler-file", str(info)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [scheduler]
    try:
        deadline = time.monotonic() + 120
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(info),
             "--nthreads", "1", "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path))
        check = subprocess.Popen([sys.executable, str(path), str(info)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 cwd=tmp_path)
        procs.append(check)
        assert check.stdout.readline().strip() == "STARTED"
        time.sleep(3.0)
        scheduler.send_signal(signal.SIGKILL)
        out, err = check.communicate(timeout=180)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert out.startswith("ClusterError"), (out, err[-3000:])
    assert "went away during the check" in out and "Restart the cluster" in out
