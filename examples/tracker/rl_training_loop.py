"""The tracker's usage example: a (simulated) training loop logging through a TrackerActor.

Run it with ``python examples/tracker/rl_training_loop.py``. Run it again: it resumes from the
checkpoint the first run saved. ``EXAMPLE_STEPS`` and ``EXAMPLE_SLEEP`` shorten it (the tests use
them); everything else is the documented example with ``Tracker`` in place of ``Trieye``.
"""

import logging
import os
import random
import time

import ray

# Import necessary components from labtrack
from labtrack import (
    DEFAULT_METRICS,  # Example using default metrics
    BufferData,
    CheckpointData,
    MetricConfig,
    PersistenceConfig,  # Import PersistenceConfig if customizing
    RawMetricEvent,
    StatsConfig,
    TrackerActor,
    TrackerConfig,
)

STEPS = int(os.environ.get("EXAMPLE_STEPS", "100"))
SLEEP = float(os.environ.get("EXAMPLE_SLEEP", "0.1"))

# Configure logging for the application
logging.basicConfig(level=logging.INFO)
logger = logging.getLogger(__name__)

# 1. Configure the tracker
# Example: Customize persistence and add one custom metric to defaults
my_metrics = DEFAULT_METRICS + [  # noqa: RUF005 - written as documented
    MetricConfig(name="Custom/MyValue", source="custom", aggregation="mean", log_frequency_steps=20)
]

tracker_config = TrackerConfig(
    app_name="my_rl_app",
    run_name=f"experiment_{time.strftime('%Y%m%d_%H%M%S')}",
    persistence=PersistenceConfig(  # Optional: Customize persistence
        BUFFER_SAVE_FREQ_STEPS=50,  # Save buffer more frequently
        ROOT_DATA_DIR=".my_app_data",  # Example: change root dir
    ),
    stats=StatsConfig(  # Optional: Customize stats
        processing_interval_seconds=2.0,  # Process stats every 2 seconds
        metrics=my_metrics,  # Use the combined list
    ),
)

# 2. Initialize Ray (if not already done)
if not ray.is_initialized():
    # Set lower Ray logging level to reduce noise if desired
    ray.init(logging_level=logging.WARNING)

# 3. Start the TrackerActor
# Give the actor a unique name if you might need to get its handle later
actor_name = "tracker_logger_main"
try:
    # Use get_actor for resilience if script restarts and actor still exists
    tracker_actor = ray.get_actor(actor_name)
    logger.info(f"Reconnected to existing TrackerActor '{actor_name}'.")
except ValueError:
    logger.info(f"Creating new TrackerActor '{actor_name}'.")
    tracker_actor = TrackerActor.options(name=actor_name, lifetime="detached").remote(
        config=tracker_config
    )

# Optional: Wait for actor to be ready by calling a method. Starting an actor means starting a
# worker process: give it a couple of minutes on a loaded machine, not seconds.
try:
    run_id = ray.get(tracker_actor.get_mlflow_run_id.remote(), timeout=120)
    logger.info(f"TrackerActor ready. MLflow Run ID: {run_id}")
except Exception as e:
    logger.error(f"Error waiting for TrackerActor: {e}. Exiting.")
    ray.shutdown()
    exit(1)

# --- In your training loop ---
global_step = 0
buffer_size = 0
episodes_played = 0
my_buffer: list = []
my_model_state: dict = {}
my_optimizer_state: dict = {}

# Load initial state (example)
# Use the logic handler within the actor for loading
logger.info("Attempting to load initial state...")
initial_state = ray.get(tracker_actor.load_initial_state.remote())

if initial_state.checkpoint_data:
    cp_data: CheckpointData = initial_state.checkpoint_data
    global_step = cp_data.global_step
    episodes_played = cp_data.episodes_played
    my_model_state = cp_data.model_state_dict
    my_optimizer_state = cp_data.optimizer_state_dict
    # Actor state is restored internally by load_initial_state
    logger.info(f"Resuming from Checkpoint: Step={global_step}, Episodes={episodes_played}")
    # ... apply model/optimizer state to your actual model/optimizer ...

if initial_state.buffer_data:
    buffer_data: BufferData = initial_state.buffer_data
    my_buffer = buffer_data.buffer_list
    buffer_size = len(my_buffer)
    logger.info(f"Loaded Buffer: {buffer_size} items")
    # ... potentially validate/process loaded buffer content ...


logger.info("Starting training loop...")
try:
    for i in range(global_step, global_step + STEPS):  # Example loop continuing from loaded step
        time.sleep(SLEEP)
        current_step = i + 1  # Typically step increments after processing

        # Simulate adding to buffer
        my_buffer.append(f"experience_{current_step}")
        buffer_size = len(my_buffer)

        # Simulate training step
        loss = random.random() * 0.1
        my_model_state = {"param": current_step}  # Update mock state
        my_optimizer_state = {"opt_param": current_step}

        # --- Log Metrics ---
        # Use default metric names if defined in config
        tracker_actor.log_event.remote(
            RawMetricEvent(name="Loss/Total", value=loss, global_step=current_step)
        )
        # Log event for rate calculation (must match rate_numerator_event in config)
        tracker_actor.log_event.remote(
            RawMetricEvent(name="step_completed", value=1, global_step=current_step)
        )
        # Log custom metric
        tracker_actor.log_event.remote(
            RawMetricEvent(name="Custom/MyValue", value=current_step * 2, global_step=current_step)
        )
        # Log buffer size
        tracker_actor.log_event.remote(
            RawMetricEvent(name="Buffer/Size", value=buffer_size, global_step=current_step)
        )

        # Simulate episode end occasionally
        if current_step % 10 == 0:
            episodes_played += 1
            score = random.random() * 100
            length = random.randint(50, 150)
            # Log event with context (must match raw_event_name and context_key in config)
            tracker_actor.log_event.remote(
                RawMetricEvent(
                    name="episode_end",
                    value=1,  # Value often unused when context is primary data
                    global_step=current_step,
                    context={"score": score, "length": length},
                )
            )
            # Log progress
            tracker_actor.log_event.remote(
                RawMetricEvent(
                    name="Progress/Episodes_Played", value=episodes_played, global_step=current_step
                )
            )

        # --- Trigger Stats Processing ---
        # Actor handles interval check internally. Fire-and-forget.
        tracker_actor.process_and_log.remote(current_step)

        # --- Save State Periodically ---
        # Check if buffer should be saved based on frequency in config
        should_save_buffer = current_step % tracker_config.persistence.BUFFER_SAVE_FREQ_STEPS == 0
        # Example: Save checkpoint every 20 steps
        if current_step % 20 == 0:
            logger.info(
                f"Requesting save at step {current_step}, save buffer: {should_save_buffer}"
            )
            # Pass actual state dicts and buffer content
            mock_model_config = {"layers": 2}  # Example config
            mock_env_config = {"id": "env-v1"}  # Example config

            tracker_actor.save_training_state.remote(
                nn_state_dict=my_model_state,
                optimizer_state_dict=my_optimizer_state,
                buffer_content=my_buffer,  # Pass the actual buffer list
                global_step=current_step,
                episodes_played=episodes_played,
                total_simulations_run=current_step * 100,  # Example simulation count
                save_buffer=should_save_buffer,
                model_config_dict=mock_model_config,
                env_config_dict=mock_env_config,
                user_data={"custom_info": "value"},  # Optional extra data
                is_best=False,  # Example: only save 'best' based on some evaluation condition
            )

        # Update global step for next iteration
        global_step = current_step

except KeyboardInterrupt:
    logger.info("Training interrupted by user.")
finally:
    # --- Cleanup ---
    logger.info("Training finished or interrupted. Shutting down TrackerActor...")
    if tracker_actor:
        try:
            # Force final stats processing with the last known step
            logger.info(f"Forcing final log processing at step {global_step}...")
            ray.get(tracker_actor.force_process_and_log.remote(global_step), timeout=60)
            # Explicitly call shutdown to close files, TB writer, and potentially MLflow run
            logger.info("Calling actor shutdown...")
            ray.get(tracker_actor.shutdown.remote(), timeout=60)
            logger.info("TrackerActor shutdown complete.")
        except Exception as e:
            logger.error(f"Error during TrackerActor final processing or shutdown: {e}")
            # Optional: Force kill the actor if shutdown hangs or fails
            logger.warning("Attempting to kill actor after shutdown error.")
            try:
                ray.kill(tracker_actor)
            except Exception as kill_e:
                logger.error(f"Error killing TrackerActor: {kill_e}")

    if ray.is_initialized():
        ray.shutdown()
    logger.info("Ray shut down. Done.")
