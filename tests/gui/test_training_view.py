"""Each training event of the engine reads as a plain sentence."""

from __future__ import annotations

from famtune_gui.training_view import describe, eta_text
from tests.gui.fake_training import event_class


def test_progress_phase_memory_done_and_outcome_read_plainly() -> None:
    progress = describe(
        event_class("Progress")(
            step=3,
            total_steps=12,
            epoch=1,
            loss=1.25,
            learning_rate=1e-4,
            tokens_per_s=410.0,
            eta_s=95.0,
            rss_mb=1100.0,
        )
    )
    assert progress.kind == "progress" and progress.fraction == 0.25 and progress.loss == 1.25
    assert progress.message == "Step 3 of 12 · loss 1.250 · 410 tokens/s · 1100 MB"
    assert eta_text(progress.eta_s) == "about 1 min 35 s left"
    assert describe(event_class("Phase")("tokenizing", "")).message == (
        "Preparing the examples for the model"
    )
    assert describe(event_class("Phase")("loading", "Loading Gemma")).message == "Loading Gemma"
    memory_adjusted = event_class("MemoryAdjusted")
    text = describe(memory_adjusted("micro_batch_size", 4, 2, "peak near the budget"))
    assert text.message == (
        "Adjusted to fit in memory: micro batch size 4 → 2 (peak near the budget)"
    )
    done = event_class("Done")("/a", "/a/adapter.gguf", 40, 0.71, 1234.0, 300.0, 380.0)
    assert describe(done).message.startswith("Training finished: 40 steps, final loss 0.710")
    outcome = event_class("TrainOutcome")(True, 4, False, 0.3, 0.4, 0.99, "it picked worse")
    assert describe(outcome).message == "Version 4 was trained but not used: it picked worse."
    nothing = event_class("TrainOutcome")(
        False, None, False, None, None, None, "12 interactions so far; the first needs 50."
    )
    assert describe(nothing).kind == "outcome"
    assert describe(nothing).message == (
        "No new model: 12 interactions so far; the first needs 50."
    )
