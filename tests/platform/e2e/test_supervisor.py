"""The supervisor of ``make run`` (``tools/supervisor.py``): a process that keeps dying is
started again after a doubling delay instead of spinning, the others go on, and SIGINT
stops every process it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[3]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_process_that_keeps_dying_is_restarted_with_backoff_and_the_others_go_on(
    tmp_path: Path,
) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("steady: sleep 600\ncrashing: sh -c 'exit 3'\n")
    supervisor = subprocess.Popen([sys.executable, "-m", "tools.supervisor", str(procfile)],
                                  cwd=REPOSITORY, start_new_session=True, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(4.5)  # restarts 1 s, then 2 s after a death: three starts, not hundreds
        os.killpg(supervisor.pid, signal.SIGINT)
        output, _ = supervisor.communicate(timeout=20)
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait()

    crashing = re.findall(r"crashing started \(pid (\d+)\)", output)
    steady = re.findall(r"steady started \(pid (\d+)\)", output)
    assert 2 <= len(crashing) <= 3, output
    assert len(steady) == 1, output
    assert re.search(rf"crashing \(pid {crashing[0]}\) exited with code 3 after [\d.]+ s; "
                     r"restarting in 1 s, at \d\d:\d\d:\d\d", output), output
    assert re.search(rf"crashing \(pid {crashing[1]}\) exited with code 3 after [\d.]+ s; "
                     r"restarting in 2 s", output), output
    assert "received SIGINT, stopping every process" in output
    assert f"steady (pid {steady[0]}) stopped: was killed by SIGTERM" in output
    assert supervisor.returncode == 0
    assert not _running(int(steady[0]))
