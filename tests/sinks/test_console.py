from __future__ import annotations

import io
import re
from pathlib import Path

from labtrack.sinks import Sink, create_sink

from .contract import SinkContract


class TestConsoleSink(SinkContract):
    def make_sink(self, tmp_path: Path) -> Sink:
        self.out = io.StringIO()
        return create_sink("console", interval_seconds=0, file=self.out)

    def read_back(self, sink: Sink, tmp_path: Path) -> dict[str, list[tuple[int, float]]]:
        # parse the printed lines: "<exp>/<run> step N │ key value │ ..."
        got: dict[str, list[tuple[int, float]]] = {}
        seen: dict[str, float] = {}
        for line in self.out.getvalue().splitlines():
            head, *parts = line.split(" │ ")
            step = int(re.search(r"step (\d+)", head).group(1))  # type: ignore[union-attr]
            for part in parts:
                key, value = part.rsplit(" ", 1)
                if seen.get(key) != float(value) or key not in seen:
                    got.setdefault(key, []).append((step, float(value)))
                seen[key] = float(value)
        return got

    def test_prints_at_most_one_line_per_interval(self, tmp_path: Path) -> None:
        out = io.StringIO()
        sink = create_sink("console", interval_seconds=3600, file=out)
        sink.open(self.run_info(tmp_path))
        for step in range(100):
            sink.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
        assert out.getvalue().count("\n") == 1  # the first call prints, the rest wait
        sink.close()  # close prints the latest values once more
        lines = out.getvalue().splitlines()
        assert lines[-1] == "contract/run-1 step 99 │ loss 0.01"
