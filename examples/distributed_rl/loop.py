"""``TrainingLoop``: episodes in, PPO updates out, everything recorded through the tracker.

One iteration: collect finished worker tasks (``WorkerManager.collect``), add their episodes to
the :class:`ExperienceBuffer`, save a checkpoint when one is due, run a PPO update once the
buffer is warm (each optimizer step is one global step, with its losses sent as raw events), push
weights to the workers every ``WORKER_UPDATE_FREQ_STEPS`` as one ``ray.put`` of
``(global_step, weights)``, let the tracker process, and print progress now and then.

Resume: :meth:`load_state` restores the model, the optimizer, the global step, the episode
and env-step counters, the recent scores, the buffer saved with that checkpoint, and (inside
``load_initial_state``) the tracker's step state. Steps between that checkpoint and the moment
the previous process died are trained again. Every checkpoint first has the tracker aggregate
and log everything up to its step, so the scalars continue without a gap; the steps after the
checkpoint that the killed process had already logged are logged again (the documented window:
at most ``CHECKPOINT_SAVE_FREQ_STEPS`` plus one PPO update, plus one more checkpoint interval
when the kill lands while a save is in flight).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from .buffer import Episode, fingerprint
from .components import TrainingComponents
from .loop_helpers import MILESTONES, LoopHelpers
from .network import to_numpy
from .worker_manager import WorkerManager

log = logging.getLogger(__name__)


class _NoTracking:
    """The client stand-in with tracking off (the bench's baseline): drops every event."""

    def log_event(self, *args: Any, **kwargs: Any) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class TrainingLoop:
    """The core loop (see the module docstring)."""

    def __init__(self, components: TrainingComponents) -> None:
        import ray

        from labtrack.tracker import TrackerClient

        self.c = components
        self.cfg = components.train_config
        self.helpers = LoopHelpers(self.cfg)
        self.workers = WorkerManager(components)
        actor = components.tracker_actor
        self.client: Any = TrackerClient(actor) if actor is not None else _NoTracking()
        self.global_step = 0
        self.start_step = 0
        self.episodes_played = 0
        self.env_steps = 0
        self.weight_updates = 0
        self.elapsed_before = 0.0  # wall time of the sessions before this one
        self.scores: deque[float] = deque(maxlen=self.cfg.SCORE_WINDOW)
        self.last_checkpoint_step = 0
        self.last_buffer_save_step = 0
        self.stop_requested = threading.Event()
        self.stop_reason: str | None = None
        self._pending_save: Any = None
        self._ray = ray
        self._session_start = time.monotonic()
        self._last_step_note = 0.0
        self._milestones = list(MILESTONES)  # those already passed go at the resume
        self.resumed_from: dict[str, Any] | None = None

    # --- stop ---------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Ask the loop to end after the current iteration (signal handlers call this)."""
        if not self.stop_requested.is_set():
            self.stop_reason = reason
            self.stop_requested.set()

    def _stop_file(self) -> Path | None:
        base = self.c.run_base_dir or self.c.run_context.data_dir
        path = Path(base) / "STOP"
        return path if path.exists() else None

    # --- state --------------------------------------------------------------------------
    def load_state(self, timeout: float = 300.0) -> bool:
        """Resume from the run's latest readable checkpoint; False when there is none."""
        actor = self.c.tracker_actor
        if actor is None:
            return False
        loaded = self._ray.get(actor.load_initial_state.remote(), timeout=timeout)
        ckpt = loaded.checkpoint_data
        if ckpt is None:
            return False
        self.c.trainer.load(ckpt.model_state_dict, ckpt.optimizer_state_dict)
        user = ckpt.user_data
        self.global_step = self.start_step = ckpt.global_step
        self.last_checkpoint_step = self.last_buffer_save_step = ckpt.global_step
        self.episodes_played = ckpt.episodes_played
        self.env_steps = int(user.get("env_steps", 0))
        self.weight_updates = int(user.get("weight_updates", 0))
        self.elapsed_before = float(user.get("elapsed_seconds", 0.0))
        self.workers.replacements = int(user.get("worker_replacements", 0))
        self.scores.extend(user.get("recent_scores", []))
        self._milestones = [m for m in MILESTONES if m > self.mean_score()]
        episodes = self._buffer_for(ckpt.global_step, loaded)
        self.c.buffer.load(episodes)
        counts = self._ray.get(actor.get_counts.remote(), timeout=timeout)
        self.resumed_from = {
            "path": loaded.checkpoint_path,
            "global_step": self.global_step,
            "episodes": self.episodes_played,
            "buffer": len(self.c.buffer),
            "buffer_fingerprint": self.c.buffer.fingerprint(),
            "optimizer_steps": self.c.trainer.optimizer_steps(),
            "tracker_episodes": counts.get("episodes"),
        }
        log.info(
            "resumed from %(path)s: global step %(global_step)d, %(episodes)d episodes, "
            "buffer %(buffer)d transitions (%(buffer_fingerprint)s), optimizer at step "
            "%(optimizer_steps)d, tracker at episode %(tracker_episodes)s",
            self.resumed_from,
        )
        return True

    def _buffer_for(self, step: int, loaded: Any) -> list[Episode]:
        """The buffer saved with the checkpoint at ``step`` (``buffer.pkl`` is the newest
        buffer, which after a fallback to an older checkpoint belongs to a later step)."""
        from labtrack.tracker.persistence import read_state_file

        if loaded.buffer_path is not None:
            step_file = Path(loaded.buffer_path).with_name(f"buffer_step_{step}.pkl")
            if step_file.is_file():
                return list(read_state_file(step_file, "buffer")["buffer_list"])
            log.warning("no buffer saved at step %d; using %s", step, loaded.buffer_path)
        return list(loaded.buffer_data.buffer_list) if loaded.buffer_data else []

    def save_checkpoint(self, *, wait: bool = False) -> None:
        """Checkpoint (and buffer, when due) through the tracker's ``save_training_state``."""
        actor = self.c.tracker_actor
        if actor is None:
            return
        if self._pending_save is not None:
            self._ray.get(self._pending_save, timeout=300)
            self._pending_save = None
        model_state, optimizer_state = self.c.trainer.state()
        save_buffer = (
            wait or self.global_step - self.last_buffer_save_step >= self.cfg.BUFFER_SAVE_FREQ_STEPS
        )
        content = self.c.buffer.content()
        # Everything up to this step is aggregated and logged before the tracker's step state
        # goes into the checkpoint: a resume then continues the scalars without a gap.
        self.client.flush()
        actor.force_process_and_log.remote(self.global_step)
        self._pending_save = actor.save_training_state.remote(
            nn_state_dict=model_state,
            optimizer_state_dict=optimizer_state,
            buffer_content=content if save_buffer else None,
            global_step=self.global_step,
            episodes_played=self.episodes_played,
            save_buffer=save_buffer,
            model_config_dict=self.c.model_config.model_dump(mode="json"),
            env_config_dict=self.c.worker_config.model_dump(mode="json"),
            user_data={
                "env_steps": self.env_steps,
                "weight_updates": self.weight_updates,
                "elapsed_seconds": self.elapsed_seconds(),
                "worker_replacements": self.workers.replacements,
                "recent_scores": list(self.scores),
                "buffer_fingerprint": fingerprint(content),
            },
        )
        log.info(
            "checkpoint at step %d (buffer %s: %d transitions, %s)",
            self.global_step,
            "saved" if save_buffer else "not saved",
            len(self.c.buffer),
            fingerprint(content),
        )
        self.last_checkpoint_step = self.global_step
        if save_buffer:
            self.last_buffer_save_step = self.global_step
        if wait:
            self._ray.get(self._pending_save, timeout=300)
            self._pending_save = None

    # --- the loop -----------------------------------------------------------------------
    def elapsed_seconds(self) -> float:
        return self.elapsed_before + time.monotonic() - self._session_start

    def mean_score(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else 0.0

    def _weights_ref(self) -> Any:
        return self._ray.put((self.global_step, to_numpy(self.c.model)))

    def run(self) -> None:
        """Train until a stop condition or a stop request; ends with a final checkpoint."""
        self._session_start = time.monotonic()
        self.workers.start(self._weights_ref())
        session_env_start, last_progress = self.env_steps, time.monotonic()
        ready_at = last_progress
        tracker_cpu_start = self._tracker_cpu()
        try:
            while True:
                self._collect()
                self._note_milestones()
                if (
                    self.global_step - self.last_checkpoint_step
                    >= self.cfg.CHECKPOINT_SAVE_FREQ_STEPS
                ):
                    self.save_checkpoint()
                if self.c.buffer.is_ready(self.cfg.ROLLOUT_STEPS):
                    self._train()
                self._record()
                now = time.monotonic()
                if now - last_progress >= self.cfg.PROGRESS_INTERVAL_SECONDS:
                    last_progress = now
                    self._progress(session_env_start)
                reason = self.helpers.stop_reason(
                    self.global_step, now - self._session_start, self.mean_score(), len(self.scores)
                )
                stop_file = self._stop_file()
                if stop_file is not None:
                    stop_file.unlink(missing_ok=True)
                    reason = f"{stop_file} found"
                if reason is not None:
                    self.request_stop(reason)
                if self.stop_requested.is_set():
                    break
            log.info("stopping: %s", self.stop_reason)
            self._progress(session_env_start)
            seconds = time.monotonic() - ready_at
            log.info(
                "throughput: %d env steps in %.1f s since the workers were ready (%.0f/s)",
                self.env_steps - session_env_start,
                seconds,
                (self.env_steps - session_env_start) / max(seconds, 1e-9),
            )
            tracker_cpu = self._tracker_cpu()
            if tracker_cpu is not None and tracker_cpu_start is not None:
                log.info(
                    "tracking CPU: the tracker actor used %.2f s of CPU in those %.1f s",
                    tracker_cpu - tracker_cpu_start,
                    seconds,
                )
            self.save_checkpoint(wait=True)
        finally:
            self.workers.shutdown()
            self.client.close()

    def _tracker_cpu(self) -> float | None:
        """The tracker actor's CPU seconds so far (None without tracking, or no answer)."""
        if self.c.tracker_actor is None:
            return None
        try:
            return float(self._ray.get(self.c.tracker_actor.cpu_seconds.remote(), timeout=60))
        except Exception:  # a figure for the log only: never a reason to stop training
            return None

    def _collect(self) -> None:
        obs_dim = self.c.model_config.OBS_DIM
        for result in self.workers.collect(timeout=0.5):
            for episode in result.episodes:
                if not self.helpers.valid_episode(episode, obs_dim):
                    log.warning("dropped a malformed episode from worker %d", result.worker_id)
                    continue
                self.c.buffer.add(episode)
                self.episodes_played += 1
                self.env_steps += len(episode)
                self.scores.append(episode.score)

    def _note_milestones(self) -> None:
        """Log when the mean score (of a full window) first passes 50, 100, 150, 195."""
        if len(self.scores) < self.cfg.SCORE_WINDOW:
            return
        mean = self.mean_score()
        while self._milestones and mean >= self._milestones[0]:
            log.info(
                "milestone: mean score %g reached at %.1f s, %d env steps, global step %d",
                self._milestones.pop(0),
                self.elapsed_seconds(),
                self.env_steps,
                self.global_step,
            )

    def _train(self) -> None:
        episodes = self.c.buffer.take(self.cfg.ROLLOUT_STEPS)
        log_event, lr = self.client.log_event, self.c.trainer.learning_rate()
        for losses in self.c.trainer.update(episodes):
            self.global_step += 1
            step = self.global_step
            log_event("Loss/Total", losses.total, step)
            log_event("Loss/Policy", losses.policy, step)
            log_event("Loss/Value", losses.value, step)
            log_event("Loss/Entropy", losses.entropy, step)
            log_event("LearningRate", lr, step)
            log_event("step_completed", 1.0, step)
            if step % self.cfg.WORKER_UPDATE_FREQ_STEPS == 0:
                self.workers.push_weights(self._weights_ref())
                self.weight_updates += 1
            if self.cfg.MAX_TRAINING_STEPS is not None and step >= self.cfg.MAX_TRAINING_STEPS:
                break

    def _record(self) -> None:
        step, log_event = self.global_step, self.client.log_event
        log_event("Buffer/Size", float(len(self.c.buffer)), step)
        log_event("Progress/Episodes_Played", float(self.episodes_played), step)
        log_event("Progress/Weight_Updates_Total", float(self.weight_updates), step)
        log_event("Progress/Env_Steps", float(self.env_steps), step)
        log_event("Progress/Elapsed_Seconds", self.elapsed_seconds(), step)
        log_event("Episode/Mean_Score", self.mean_score(), step)
        log_event("System/Num_Active_Workers", float(self.workers.num_active), step)
        log_event("System/Num_Pending_Tasks", float(self.workers.num_pending), step)
        log_event("System/Worker_Replacements", float(self.workers.replacements), step)
        now = time.monotonic()
        if self.c.tracker_actor is not None and now - self._last_step_note >= 0.5:
            # twice a second (the tracker processes once a second anyway): the events, then
            # the step they belong to, in one call
            self._last_step_note = now
            self.client.process_and_log(step)

    def _progress(self, session_env_start: int) -> None:
        run_time = time.monotonic() - self._session_start
        eta = self.helpers.eta_seconds(self.global_step, self.start_step, run_time, run_time)
        rate = (self.env_steps - session_env_start) / run_time if run_time > 0 else 0.0
        log.info(
            self.helpers.progress_line(
                global_step=self.global_step,
                episodes=self.episodes_played,
                env_steps=self.env_steps,
                env_steps_per_sec=rate,
                mean_score=self.mean_score(),
                buffer_size=len(self.c.buffer),
                workers=self.workers.num_active,
                eta=eta,
            )
        )
