"""The sweep's progress written to a log file or CI: whole lines, not a live bar's fragments."""

from __future__ import annotations

import textwrap
from pathlib import Path

MAIN = textwrap.dedent(
    """
    import time
    import labtrack
    from labtrack import sweep

    @labtrack.experiment(name="slow", executor="inline")
    def train(config):
        time.sleep(0.05)
        return {"ok": 1}

    @train.configs
    def configs():
        return sweep([{"name": "a"}], [{"name": f"c{i}", "i": i} for i in range(40)])

    if __name__ == "__main__":
        train.run()
    """
)


def test_progress_to_a_file_is_whole_lines_at_a_low_rate(tmp_path: Path, script):
    (tmp_path / "main.py").write_text(MAIN)
    proc = script(tmp_path / "main.py")  # stderr is a pipe here, as in CI or `2> log`
    status = [line for line in proc.stderr.splitlines() if line.startswith("[labtrack] ")]
    assert status, proc.stderr
    assert "\r" not in proc.stderr and "\x1b[" not in proc.stderr  # no redraws, no escapes
    assert status[-1].split(": ", 1)[1].startswith("40/40 (40 done, 0 cached, 0 failed")
    assert (
        len(status) == 2
    )  # a 2 s sweep: one line as it starts, none until LOG_EVERY (10 s), the last
