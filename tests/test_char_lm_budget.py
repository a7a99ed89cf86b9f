"""The character model's wall-clock budget: epochs planned from a timed trial, kept on resume."""

from pathlib import Path

import pytest
import torch

from e2edl.data.text_windows import CharSplits
from e2edl.recipes import sequences
from e2edl.recipes.sequences import CharLMRecipe, plan_epochs, train_char_lm

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 40
TINY = dict(
    embed_dim=8, hidden_size=16, window=16, batch_size=4, steps_per_epoch=5, warmup_steps=1, eval_window=32
)


def test_a_recipe_takes_epochs_or_a_budget_not_both() -> None:
    with pytest.raises(ValueError, match="either epochs or budget_seconds"):
        CharLMRecipe(epochs=3, budget_seconds=60)
    with pytest.raises(ValueError, match="either epochs or budget_seconds"):
        CharLMRecipe(epochs=None)
    with pytest.raises(ValueError, match="budget_seconds must be positive"):
        CharLMRecipe(epochs=None, budget_seconds=0)


class ScriptedClock:
    """A ``perf_counter`` whose every second reading is later than the one before by the next of
    ``durations``: each timed span (a start, then an end) lasts exactly what the script says."""

    def __init__(self, durations: list[float]) -> None:
        self.durations, self.now, self.readings = iter(durations), 0.0, 0

    def perf_counter(self) -> float:
        self.readings += 1
        if self.readings % 2 == 0:
            self.now += next(self.durations)
        return self.now


def test_the_plan_is_the_budget_over_a_timed_epoch() -> None:
    data = CharSplits.of(TEXT)
    recipe = CharLMRecipe(**TINY, epochs=None, budget_seconds=1e-9)
    epochs, epoch_seconds = plan_epochs(data, recipe)  # the real clock
    assert epochs == 1 and epoch_seconds > 0  # a budget shorter than an epoch still trains one


def test_the_plan_takes_the_median_step_so_a_moment_of_other_work_does_not_shrink_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warmup = [1.0] * sequences.TRIAL_WARMUP  # untimed: first steps are slow everywhere
    timed = [0.01] * sequences.TRIAL_STEPS
    timed[4] = 0.5  # another process took the core for one step
    clock = ScriptedClock([*warmup, *timed, 0.02])  # then one pass over the validation text
    monkeypatch.setattr(sequences, "time", clock)
    recipe = CharLMRecipe(**TINY, epochs=None, budget_seconds=0.71)
    epochs, epoch_seconds = plan_epochs(CharSplits.of(TEXT), recipe)
    assert epoch_seconds == pytest.approx(5 * 0.01 + 0.02)  # steps_per_epoch median steps + the evaluation
    assert epochs == 10  # 0.71 s over 0.07 s, whole epochs only
    assert clock.readings == 2 * (len(warmup) + len(timed) + 1)  # every step and the evaluation were timed


def test_a_budgeted_run_trains_its_planned_epochs_and_keeps_them_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = CharSplits.of(TEXT)
    recipe = CharLMRecipe(**TINY, epochs=None, budget_seconds=30.0)
    plans = iter([(3, 10.0), (5, 6.0)])  # the second plan (a faster machine) must not be asked for
    monkeypatch.setattr(sequences, "plan_epochs", lambda *args: next(plans))
    _, history = train_char_lm(data, recipe, run_dir=tmp_path, progress=False)
    assert [r["epoch"] for r in history.records] == [1, 2, 3]
    _, again = train_char_lm(data, recipe, run_dir=tmp_path, resume=True, progress=False)
    assert again.records == history.records  # reused as it was: the plan came from the checkpoint
    assert next(plans) == (5, 6.0)


def test_build_char_lm_is_the_model_train_char_lm_starts_from(monkeypatch) -> None:
    """The sequences lesson plots gradients of ``build_char_lm``'s model as "at initialisation"."""
    data = CharSplits.of(TEXT)
    recipe = CharLMRecipe(epochs=1, **TINY)
    started = {}
    real_fit = sequences.fit

    def spy(model, *args, **kwargs):
        started.update({k: v.clone() for k, v in model.state_dict().items()})
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(sequences, "fit", spy)
    train_char_lm(data, recipe, seed=3, progress=False)
    built = sequences.build_char_lm(recipe, len(data.vocabulary), seed=3).state_dict()
    assert built.keys() == started.keys()
    assert all(torch.equal(built[k], started[k]) for k in built)
    other = sequences.build_char_lm(recipe, len(data.vocabulary), seed=4).state_dict()
    assert not all(torch.equal(built[k], other[k]) for k in built)
