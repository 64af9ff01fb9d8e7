"""``@experiment`` and ``Experiment.run``: plan a sweep, skip what is cached, run the rest, report.

Settings come from three places, the later winning: the decorator, ``run(...)``, the command
line (``run(argv=[...])``, else ``sys.argv``, as pyexp does, wherever the experiment is
defined). When the experiment lives in the script being run (``__main__``), ``sys.argv`` is
the script's own and an unknown option is an error; elsewhere (an imported experiment, a test
under pytest) options that are not ours belong to the host program and are ignored.

A sweep started from the command line (experiment in ``__main__``, ``sys.argv`` parsed) in
which a config failed exits with status 1 after the report, with a one-line count, so that
shells and CI see the failure.

Each config's run directory is ``<output_dir>/<name>/<timestamp>/<config_name>-<hash>/``
(no ``<timestamp>`` level with ``timestamp=False``); it is also the config's labtrack run.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, overload

from labtrack.errors import ConfigError
from labtrack.runner import cache
from labtrack.runner.config import Config
from labtrack.runner.executors.base import Executor, get_executor
from labtrack.runner.progress import SweepProgress
from labtrack.runner.registry import registered
from labtrack.runner.result import Result
from labtrack.runner.task import (
    STDERR_FILE,
    STDOUT_FILE,
    ConfigTask,
    error_record,
    finish_unfinished,
    wants_logger,
)
from labtrack.runner.tensor import Tensor

TIMESTAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"
_TIMESTAMP_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}(?:-(\d+))?$")

ConfigsArg = Callable[[], Any] | Tensor | Iterable[Mapping[str, Any]]


class Experiment:
    """An experiment function plus how to run it; made by ``@labtrack.experiment``.

    >>> import labtrack
    >>> @labtrack.experiment(name="demo", executor="inline")
    ... def demo(config):
    ...     return {"square": config.x ** 2}
    >>> @demo.configs
    ... def configs():
    ...     return [{"name": f"x{x}", "x": x} for x in range(3)]

    ``demo.run()`` runs the configs not yet completed, calls the report function with the
    results ``Tensor`` (of :class:`Result`) and returns what the report function returns (the
    results when there is none); calling ``demo(config)`` calls the function directly.

    The function takes the config (``def exp(config)``; ``labtrack.current_run()`` is the
    config's run) or, as in pyexp, the config and a :class:`~labtrack.Logger` writing to that
    run (``def exp(config, logger)``).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        executor: str | Executor | None = None,
        timestamp: bool | str = True,
        output_dir: str | Path | None = None,
        max_workers: int | None = None,
        capture: bool = True,
        retry: int = 0,
        stash: bool = True,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@experiment decorates a function, got {type(fn).__name__}")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "experiment")
        self.executor = executor
        self.timestamp = timestamp
        self.output_dir = output_dir
        self.max_workers = max_workers
        self.capture = capture
        self.retry = retry
        self.stash = stash
        self._configs_fn: ConfigsArg | None = None
        self._report_fn: Callable[..., Any] | None = None

    def __call__(self, config: Mapping[str, Any]) -> Any:
        return self.fn(config if isinstance(config, Config) else Config(config))

    def __repr__(self) -> str:
        return f"Experiment({self.name!r}, executor={self.executor!r})"

    def configs(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """Decorator: the function that returns the configs (a list or a ``sweep`` Tensor)."""
        self._configs_fn = fn
        return fn

    def report(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: the function that receives the results ``Tensor`` after the sweep.

        ``def report(results)`` (the seed) or pyexp's ``def report(results, out)``, where
        ``out`` is a ``report/`` folder beside the configs' directories, for plots and tables.
        """
        self._report_fn = fn
        return fn

    def run(
        self,
        configs: ConfigsArg | None = None,
        report: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        executor: str | Executor | None = None,
        timestamp: bool | str | None = None,
        output_dir: str | Path | None = None,
        max_workers: int | None = None,
        capture: bool | None = None,
        rerun: bool | None = None,
        report_only: bool | None = None,
        retry: int | None = None,
        stash: bool | None = None,
        argv: Sequence[str] | None = None,
    ) -> Any:
        """Run every config not yet completed, then report; return what the report returns.

        Without a report function, the results ``Tensor`` (of :class:`Result`) is returned.

        Args:
            configs: the configs, or a function returning them (default: ``@x.configs``).
            report: the report function (default: ``@x.report``).
            name: experiment name, the folder under ``output_dir``.
            executor: ``"subprocess"`` (default), ``"fork"``, ``"inline"``, ``"ray"``,
                ``"ray://host:port"``, ``"ray:auto"`` or an ``Executor``.
            timestamp: ``True`` (a new timestamp folder), ``False`` (none) or a timestamp
                string (continue, rerun or report that one).
            output_dir: where experiments go (default ``$LABTRACK_DIR`` or ``out``).
            max_workers: configs run at once where the executor allows (default: cores).
            capture: keep each config's output in its run directory and show a progress
                bar (default), or stream output live (``False``, like ``-s``).
            rerun: run every config, even completed ones.
            report_only: run nothing; report from cached results.
            retry: run a failed config up to this many more times (default 0); each failed
                try is kept in the record's ``attempts`` and in ``stderr.log``.
            stash: snapshot the git checkout (see :func:`labtrack.runner.stash.stash`) and
                tag every run ``git_stash=<commit>`` (default True; nothing outside git).
            argv: command-line arguments to parse (see the module docstring for the default).
        """
        given = {
            "name": name,
            "executor": executor,
            "timestamp": timestamp,
            "output_dir": output_dir,
            "max_workers": max_workers,
            "capture": capture,
            "rerun": rerun,
            "report_only": report_only,
            "retry": retry,
            "stash": stash,
        }
        opts = _Settings.resolve(self, given, argv)
        cfgs = _filtered(self._load_configs(configs), opts.filter)
        # absolute: workers (Ray's in particular) may run in another working directory
        root = opts.root(report_only=opts.report_only, listing=opts.list_only).absolute()
        planned = _plan(cfgs, root)
        if opts.list_only:
            listed = _list(planned)
            if opts.from_command_line:
                raise SystemExit(0)  # as pyexp: list, run nothing
            return listed
        records: list[Any] = [None] * len(planned)
        todo: list[int] = []
        for i, cfg in enumerate(planned):
            rec = None if opts.rerun else cache.read_result(Path(cfg["out"]) / cache.RESULT_FILE)
            if rec is not None and not cache.is_error(rec):
                rec["config"] = cfg
                records[i] = rec
            else:
                if rec is not None and opts.report_only:
                    rec["config"] = cfg
                    records[i] = rec
                todo.append(i)
        _say(
            f"{opts.name}: {len(planned)} configs, {len(planned) - len(todo)} cached, "
            f"output in {root}"
        )
        if opts.report_only:
            for i in todo:
                if records[i] is None:
                    records[i] = error_record(
                        planned[i],
                        type="NotRun",
                        message="no cached result; run without --report to compute it",
                    )
        elif todo:
            _Sweep(self, opts, planned, records).execute(todo, cached=len(planned) - len(todo))
        results = Tensor([Result(r) for r in records], cfgs.shape)
        failed = [r for r in results if cache.is_error(r)]
        if failed and not opts.report_only:
            _say(f"{len(failed)} of {len(results)} configs failed:")
            for r in failed[:20]:
                _say(f"  {r['name']}: {r.get('type')}: {r.get('message')}")
        report_fn = report or self._report_fn
        value: Any = results
        if report_fn is not None:
            value = _call_report(report_fn, results, root)
        if opts.viewer:
            _serve_viewer(root, opts.viewer_port)
        if failed and opts.from_command_line:
            _say(f"{opts.name}: {len(failed)} of {len(results)} configs failed")
            raise SystemExit(1)
        return value

    def _load_configs(self, configs: ConfigsArg | None) -> Tensor:
        source = configs if configs is not None else self._configs_fn
        if source is None:
            raise ConfigError(
                f"experiment {self.name!r} has no configs: decorate a function with "
                f"@{self.name}.configs or pass run(configs=...)"
            )
        raw = source() if callable(source) else source
        tensor = raw if isinstance(raw, Tensor) else Tensor(list(raw))
        out: list[Config] = []
        for i, cfg in enumerate(tensor):
            if not isinstance(cfg, Mapping):
                raise ConfigError(f"config {i} must be a dict, got {type(cfg).__name__}")
            c = Config(cfg)
            if "out" in c:
                raise ConfigError(
                    f"config {i} ({c.get('name') or 'unnamed'!r}) has a key 'out', which the "
                    "runner reserves for the config's run directory (config.out); rename it"
                )
            c["name"] = str(c.get("name") or "config")
            out.append(c)
        return Tensor(out, tensor.shape)


@overload
def experiment(fn: Callable[..., Any], /) -> Experiment: ...


@overload
def experiment(
    *,
    name: str | None = None,
    executor: str | Executor | None = None,
    timestamp: bool | str = True,
    output_dir: str | Path | None = None,
    max_workers: int | None = None,
    capture: bool = True,
    retry: int = 0,
    stash: bool = True,
) -> Callable[[Callable[..., Any]], Experiment]: ...


def experiment(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    executor: str | Executor | None = None,
    timestamp: bool | str = True,
    output_dir: str | Path | None = None,
    max_workers: int | None = None,
    capture: bool = True,
    retry: int = 0,
    stash: bool = True,
) -> Experiment | Callable[[Callable[..., Any]], Experiment]:
    """Make an :class:`Experiment` of a function, bare (``@experiment``) or with options.

    >>> import labtrack
    >>> @labtrack.experiment(name="mnist", executor="fork", timestamp=False)
    ... def train(config):
    ...     return {"accuracy": 0.95}
    >>> train.name
    'mnist'
    """

    def wrap(f: Callable[..., Any]) -> Experiment:
        return Experiment(
            f,
            name=name,
            executor=executor,
            timestamp=timestamp,
            output_dir=output_dir,
            max_workers=max_workers,
            capture=capture,
            retry=retry,
            stash=stash,
        )

    return wrap(fn) if fn is not None else wrap


class _Settings:
    """The settings of one ``run()``: CLI > ``run()`` arguments > decorator."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.name: str = values["name"]
        self.executor: Executor = values["executor"]
        self.timestamp: bool | str = values["timestamp"]
        self.output_dir = Path(values["output_dir"])
        self.max_workers: int | None = values["max_workers"]
        self.capture: bool = values["capture"]
        self.rerun: bool = bool(values["rerun"])
        self.report_only: bool = bool(values["report_only"])
        self.retry: int = int(values["retry"] or 0)
        self.stash: bool = bool(values["stash"])
        self.continue_latest: bool = bool(values.get("continue_latest"))
        self.list_only: bool = bool(values.get("list_only"))
        self.filter: str | None = values.get("filter")
        self.viewer: bool = bool(values.get("viewer"))
        self.viewer_port: int | None = values.get("viewer_port")
        self.from_command_line: bool = bool(values.get("from_command_line"))

    @classmethod
    def resolve(
        cls, exp: Experiment, args: Mapping[str, Any], argv: Sequence[str] | None
    ) -> _Settings:
        from labtrack._env import default_store_dir
        from labtrack.runner import cli

        values: dict[str, Any] = {
            "name": exp.name,
            "executor": exp.executor,
            "timestamp": exp.timestamp,
            "output_dir": exp.output_dir,
            "max_workers": exp.max_workers,
            "capture": exp.capture,
            "rerun": False,
            "report_only": False,
            "retry": exp.retry,
            "stash": exp.stash,
        }
        values.update({k: args[k] for k in values if args.get(k) is not None})
        in_main = getattr(exp.fn, "__module__", None) == "__main__"
        strict = True
        if argv is None:
            argv, strict = sys.argv[1:], in_main
            values["from_command_line"] = in_main
        values.update(cli.parse(argv, prog=os.path.basename(sys.argv[0]) or None, strict=strict))
        if not isinstance(values["retry"], int) or values["retry"] < 0:
            raise ConfigError(f"retry must be an int >= 0, got {values['retry']!r}")
        if not isinstance(values["executor"], Executor):
            values["executor"] = get_executor(values["executor"])  # bad names fail here, early
        if values["output_dir"] is None:
            values["output_dir"] = default_store_dir()
        if not isinstance(values["name"], str) or not values["name"] or "/" in values["name"]:
            raise ConfigError(
                f"experiment name must be a non-empty folder name, got {values['name']!r}"
            )
        return cls(values)

    def root(self, *, report_only: bool, listing: bool = False) -> Path:
        """The folder that holds this run's config directories (``--list``: the latest, if
        there is one, else where a new run would go)."""
        base = self.output_dir / self.name
        ts = self.timestamp
        if ts is False:
            return base
        if self.continue_latest and not isinstance(ts, str):
            latest = latest_timestamp(base)
            if latest is None:
                raise ConfigError(f"--continue: no earlier run of {self.name!r} under {base}")
            return base / latest
        if isinstance(ts, str):
            if not ts or "/" in ts or os.sep in ts or ts in (".", ".."):
                raise ConfigError(f"timestamp must be a folder name, got {ts!r}")
            return base / ts
        if listing and (latest := latest_timestamp(base)) is not None:
            return base / latest
        if report_only:
            latest = latest_timestamp(base)
            if latest is None:
                raise ConfigError(
                    f"--report: no earlier run of {self.name!r} under {base} to report from"
                )
            return base / latest
        stamp = datetime.now().strftime(TIMESTAMP_FORMAT)
        candidate, n = stamp, 0
        while (base / candidate).exists():  # two runs within one second
            n += 1
            candidate = f"{stamp}-{n}"
        return base / candidate


def _filtered(cfgs: Tensor, pattern: str | None) -> Tensor:
    """The configs whose name matches ``pattern`` (``--filter``; ``re.search``)."""
    if pattern is None:
        return cfgs
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"--filter {pattern!r} is not a regular expression: {exc}") from exc
    if not any(regex.search(c["name"]) for c in cfgs):
        names = ", ".join(c["name"] for c in list(cfgs)[:10])
        raise ConfigError(f"--filter {pattern!r} matches no config (configs: {names})")
    selected: Tensor = cfgs[lambda c: bool(regex.search(c["name"]))]
    return selected


def _list(planned: list[Config]) -> Tensor:
    """``--list``: print each config's name and whether it has a completed result."""
    for cfg in planned:
        rec = cache.read_result(Path(cfg["out"]) / cache.RESULT_FILE)
        state = "missing" if rec is None else "failed" if cache.is_error(rec) else "done"
        print(f"{cfg['name']}\t{state}\t{cfg['out']}", flush=True)
    return Tensor(planned)


def _call_report(fn: Callable[..., Any], results: Tensor, root: Path) -> Any:
    """``report(results)`` (the seed) or ``report(results, out)`` (pyexp), by arity."""
    import inspect

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_out = len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)
    if not takes_out:
        return fn(results)
    out = root / "report"
    out.mkdir(parents=True, exist_ok=True)
    return fn(results, out)


def _serve_viewer(root: Path, port: int | None) -> None:
    """``--viewer``: serve the viewer over the sweep's folder until Ctrl-C (a child process,
    so that the runner never imports the viewer's server)."""
    import subprocess

    cmd = [sys.executable, "-m", "labtrack.viewer", str(root)]
    if port is not None:
        cmd += ["--port", str(port)]
    _say(f"serving the viewer over {root} (Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        subprocess.run(cmd, check=False)


def _snapshot() -> dict[str, str]:
    """Tags with the git snapshot of the working tree, or none outside git (never raises)."""
    import subprocess

    from labtrack.runner.stash import in_git_checkout, stash

    if not in_git_checkout():
        return {}
    try:
        return {"git_stash": stash()}
    except (OSError, subprocess.CalledProcessError) as exc:
        _say(f"cannot snapshot the git checkout ({exc}); runs are not tagged git_stash")
        return {}


def latest_timestamp(base: Path) -> str | None:
    """The newest timestamp folder name under ``base``, or None."""
    try:
        names = [p.name for p in base.iterdir() if p.is_dir()]
    except FileNotFoundError:
        return None
    stamps = [(n[:19], int(m.group(1) or 0), n) for n in names if (m := _TIMESTAMP_DIR.match(n))]
    return max(stamps)[2] if stamps else None


def _plan(cfgs: Tensor, root: Path) -> list[Config]:
    """Give every config its ``out`` directory; refuse two configs with one directory."""
    seen: dict[str, int] = {}
    planned: list[Config] = []
    for i, cfg in enumerate(cfgs):
        name = cfg["name"]
        digest = cache.config_hash(cfg, config_name=name)
        folder = cache.dir_name(name, digest)
        if folder in seen:
            j = seen[folder]
            raise ConfigError(
                f"configs {j} and {i} have the same name {name!r} and the same values "
                f"(hash {digest}); give them different names or values"
            )
        seen[folder] = i
        c = Config(cfg)
        c["out"] = root / folder
        planned.append(c)
    return planned


class _Sweep:
    """Runs the configs still to do on the executor, in parallel where it allows."""

    def __init__(
        self, exp: Experiment, opts: _Settings, planned: list[Config], records: list[Any]
    ) -> None:
        self.exp = exp
        self.opts = opts
        self.planned = planned
        self.records = records
        self.executor = get_executor(opts.executor)
        self.task = ConfigTask(
            fn=exp.fn,
            experiment=opts.name,
            capture=opts.capture,
            registry=registered(),
            wants_logger=wants_logger(exp.fn),
            tags=_snapshot() if opts.stash else {},
        )
        self.in_flight: set[int] = set()
        self.lock = threading.Lock()

    def workers(self, todo: int) -> int:
        limit = self.executor.max_parallel
        if limit == 1:
            return 1
        n = self.opts.max_workers or limit or os.cpu_count() or 1
        return max(1, min(n, todo))

    def execute(self, todo: list[int], cached: int) -> None:
        for i in todo:
            out = Path(self.planned[i]["out"])
            for stale in (cache.RESULT_FILE, STDOUT_FILE, STDERR_FILE):
                with contextlib.suppress(FileNotFoundError):
                    (out / stale).unlink()
        total = len(self.planned)
        if todo:
            self.executor.prepare(self.opts.output_dir.absolute())
        with SweepProgress(
            total, cached, bar=self.opts.capture, title=self.opts.name, guard=self.executor.guard
        ) as prog:
            self.progress = prog
            n = self.workers(len(todo))
            try:
                if n == 1:
                    for i in todo:
                        self.run_one(i)
                else:
                    with concurrent.futures.ThreadPoolExecutor(n) as pool:
                        futures = [pool.submit(self.run_one, i) for i in todo]
                        try:
                            for f in concurrent.futures.as_completed(futures):
                                f.result()
                        except BaseException:
                            self.executor.interrupt()
                            pool.shutdown(wait=True, cancel_futures=True)
                            raise
            except KeyboardInterrupt:
                self.stop(cached)
                raise

    def run_one(self, i: int) -> None:
        cfg = self.planned[i]
        result_path = Path(cfg["out"]) / cache.RESULT_FILE
        with self.lock:
            self.in_flight.add(i)
        self.progress.started(cfg["name"])
        attempts: list[dict[str, Any]] = []
        while True:
            rec = self.try_one(cfg, result_path)
            if rec is None:  # stopped (Ctrl-C): left for a later continue
                return
            if (
                not cache.is_error(rec)
                or len(attempts) >= self.opts.retry
                or rec.get("type") == "KeyboardInterrupt"
            ):
                break
            attempts.append({k: rec.get(k) for k in ("type", "message", "traceback")})
        if attempts:
            rec = {**rec, "attempts": attempts, "tries": len(attempts) + 1}
            with contextlib.suppress(Exception):
                cache.write_result(result_path, rec)
        with self.lock:
            self.in_flight.discard(i)
        self.records[i] = rec
        ok = not cache.is_error(rec)
        self.progress.finished(
            cfg["name"], ok, "" if ok else f"{rec.get('type')}: {rec.get('message')}"
        )

    def try_one(self, cfg: Config, result_path: Path) -> Any:
        """One try of one config: its record, or None when it was stopped."""
        try:
            rec = self.executor.run(self.task, cfg, result_path)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # the executor itself failed: this config fails, not the sweep
            rec = error_record(cfg, exc)
            with contextlib.suppress(Exception):
                cache.write_result(result_path, rec)
        if not isinstance(rec, Mapping):
            with self.executor.guard():
                rec = cache.read_result(result_path)
        return rec

    def stop(self, cached: int) -> None:
        """After Ctrl-C: stop workers, mark runs in flight ``killed``, say how to continue."""
        self.executor.interrupt()
        with self.lock:
            in_flight = sorted(self.in_flight)
        for i in in_flight:
            cfg = self.planned[i]
            rec = cache.read_result(Path(cfg["out"]) / cache.RESULT_FILE)
            if rec is None or cache.is_error(rec):
                _mark_killed(self.opts.name, cfg)
        finished = sum(1 for r in self.records if r is not None)
        how = (
            f" Continue with: --timestamp {Path(self.planned[0]['out']).parent.name}"
            if self.opts.timestamp is not False
            else " Run again to continue."
        )
        _say(
            f"interrupted: {finished} results kept ({cached} were cached), "
            f"{len(in_flight)} runs in flight marked killed.{how}"
        )


def _mark_killed(experiment: str, cfg: Config) -> None:
    """Finish a run left ``running`` by a stopped worker as ``killed``."""
    from labtrack.store import Store

    out = Path(cfg["out"])
    try:
        status = Store(out).run(out).status
    except Exception:
        status = "running"
    if status in ("running", "crashed"):
        finish_unfinished(experiment, cfg, "killed", None)


def _say(message: str) -> None:
    print(f"labtrack: {message}", file=sys.stderr, flush=True)
