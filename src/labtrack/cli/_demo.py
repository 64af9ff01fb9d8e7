"""``labtrack demo``: a few short, real training runs recorded into the embedded store.

Each run fits a small logistic-regression classifier with numpy on a synthetic two-moons data
set, with its own learning rate, and records what a real run records: config, per-step
scalars, evaluation text, a decision-boundary figure (matplotlib when installed, else an image),
an animated GIF of the boundary as it is learned (a video record, shown in the viewer's Media
tab), an artifact (the learned weights), and a summary.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np

from .._env import default_store_dir
from .._run import start_run
from ..store import Store


def _moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    angle = rng.uniform(0, np.pi, n)
    upper = rng.random(n) < 0.5
    x = np.where(upper, np.cos(angle), 1 - np.cos(angle))
    y = np.where(upper, np.sin(angle), 0.5 - np.sin(angle))
    points = np.stack([x, y], axis=1) + rng.normal(0, 0.15, (n, 2))
    return points, upper.astype(np.float64)


def _features(points: np.ndarray) -> np.ndarray:
    x, y = points[:, 0], points[:, 1]
    return np.stack([np.ones_like(x), x, y, x * y, x**2, y**2, x**3, y**3], axis=1)


def _train_one(store: Path, lr: float, steps: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    train_x, train_y = _moons(400, rng)
    test_x, test_y = _moons(200, rng)
    feats, test_feats = _features(train_x), _features(test_x)
    config = {
        "model": {"kind": "logistic", "features": feats.shape[1]},
        "lr": lr,
        "steps": steps,
        "seed": seed,
    }
    with start_run("demo", name=f"lr={lr:g}", config=config, dir=store, tags=["demo"]) as run:
        weights = np.zeros(feats.shape[1])
        frames = []
        for step in range(steps):
            prob = 1 / (1 + np.exp(-feats @ weights))
            loss = -np.mean(train_y * np.log(prob + 1e-9) + (1 - train_y) * np.log(1 - prob + 1e-9))
            weights -= lr * feats.T @ (prob - train_y) / len(train_y)
            metrics = {"train/loss": loss, "train/acc": np.mean((prob > 0.5) == train_y)}
            if step % 10 == 0 or step == steps - 1:
                test_prob = 1 / (1 + np.exp(-test_feats @ weights))
                metrics["eval/acc"] = np.mean((test_prob > 0.5) == test_y)
            run.log(metrics, step=step)
            if step % max(steps // 16, 1) == 0 or step == steps - 1:
                frames.append(_boundary_image(weights))
            if step % 100 == 0 or step == steps - 1:
                run.log_text(
                    "eval/report",
                    f"step {step}: train loss {loss:.4f}, "
                    f"eval accuracy {metrics.get('eval/acc', float('nan')):.3f}",
                    step=step,
                )
        _log_boundary(run, weights, test_x, test_y, steps - 1)
        run.log_video("eval/boundary_over_training", frames, fps=8, format="gif", max_size=None)
        weights_path = run.dir / "weights.npy"
        np.save(weights_path, weights)
        run.log_artifact(weights_path, kind="model", metadata={"format": "npy"})
        run.summary["best_eval_acc"] = float(metrics["eval/acc"])
        return run.id


def _boundary_image(weights: np.ndarray) -> np.ndarray:
    """The classifier's probability over the plane as a 64×64 RGB image (red: class 1)."""
    grid = np.linspace(-1.5, 2.5, 64)
    gx, gy = np.meshgrid(grid, grid)
    prob = 1 / (1 + np.exp(-_features(np.stack([gx.ravel(), gy.ravel()], 1)) @ weights))
    prob = prob.reshape(gx.shape)[::-1]
    return (np.stack([prob, 0.3 * np.ones_like(prob), 1 - prob], axis=-1) * 255).astype(np.uint8)


def _log_boundary(
    run: object, weights: np.ndarray, x: np.ndarray, y: np.ndarray, step: int
) -> None:
    grid = np.linspace(-1.5, 2.5, 120)
    gx, gy = np.meshgrid(grid, grid)
    prob = 1 / (1 + np.exp(-_features(np.stack([gx.ravel(), gy.ravel()], 1)) @ weights))
    prob = prob.reshape(gx.shape)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # no matplotlib: record the same picture as an image
        image = np.stack([prob, 0.3 * np.ones_like(prob), 1 - prob], axis=-1)[::-1]
        run.log_image("eval/decision_boundary", image, step=step)  # type: ignore[attr-defined]
        return
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.contourf(gx, gy, prob, levels=20, cmap="RdBu", alpha=0.6)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu", edgecolors="k", s=12)
    ax.set_title("decision boundary")
    run.log_figure("eval/decision_boundary", fig, step=step, interactive=False)  # type: ignore[attr-defined]
    plt.close(fig)


def cmd_demo(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    store = Path(args.dir) if args.dir else default_store_dir()
    console = Console(soft_wrap=True)  # long hint lines stay whole for copy-paste
    if args.runs < 1 or args.steps < 1:
        raise ValueError("--runs and --steps must be >= 1")
    started = time.perf_counter()
    ids = []
    for i in range(args.runs):
        lr = [0.05, 0.2, 1.0, 3.0, 0.5, 0.1][i % 6] * (1 + i // 6)
        ids.append(_train_one(store, lr, args.steps, seed=i))
    took = time.perf_counter() - started
    views = [v for v in Store(store).runs(experiment="demo") if v.id in ids]
    table = Table(
        title=f"recorded {len(views)} run(s) into {store} in {took:.1f}s", title_justify="left"
    )
    for column in ("id", "name", "status", "train/loss", "eval/acc", "points"):
        table.add_column(column)
    for view in views:
        metrics = view.metrics
        points = sum(int(m["count"]) for m in metrics.values())
        table.add_row(
            view.id,
            view.name,
            view.status,
            f"{metrics['train/loss']['last']:.4f}",
            f"{metrics['eval/acc']['last']:.3f}",
            str(points),
        )
    console.print(table)
    if importlib.util.find_spec("stable_baselines3") is not None:
        from ..integrations._demo import sb3_demo

        sb3_id = sb3_demo(store)
        console.print(f"recorded an SB3 PPO run on CartPole-v1: {sb3_id} (experiment demo-sb3)")
    console.print("Look at them:")
    console.print(f"  labtrack ls {store}                 # list runs")
    console.print(f"  labtrack show {ids[0]} --dir {store}   # one run")
    console.print(
        f"  labtrack ui {store}                 # the web viewer (pip install 'labtrack\\[viewer]')"
    )
    console.print(
        f"  python -c \"import labtrack; v = labtrack.Store('{store}').runs()[-1]; "
        "print(v.name, v.scalars('train/loss').values[-3:])\""
    )
    return 0
