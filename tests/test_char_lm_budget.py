"""The character model's wall-clock budget: epochs planned from a timed trial, kept on resume."""

from pathlib import Path

import pytest

from e2edl.data.text_windows import CharSplits
from e2edl.recipes import sequences
from e2edl.recipes.sequences import CharLMRecipe, plan_epochs, train_char_lm

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 40
TINY = dict(embed_dim=8, hidden_size=16, window=16, batch_size=4, steps_per_epoch=5, warmup_steps=1, eval_window=32)


def test_a_recipe_takes_epochs_or_a_budget_not_both() -> None:
    with pytest.raises(ValueError, match="either epochs or budget_seconds"):
        CharLMRecipe(epochs=3, budget_seconds=60)
    with pytest.raises(ValueError, match="either epochs or budget_seconds"):
        CharLMRecipe(epochs=None)
    with pytest.raises(ValueError, match="budget_seconds must be positive"):
        CharLMRecipe(epochs=None, budget_seconds=0)


def test_the_plan_is_the_budget_over_a_timed_epoch() -> None:
    data = CharSplits.of(TEXT)
    recipe = CharLMRecipe(**TINY, epochs=None, budget_seconds=1e-9)
    epochs, epoch_seconds = plan_epochs(data, recipe)
    assert epochs == 1 and epoch_seconds > 0  # a budget shorter than an epoch still trains one
    recipe = CharLMRecipe(**TINY, epochs=None, budget_seconds=epoch_seconds * 7.5)
    assert 3 <= plan_epochs(data, recipe)[0] <= 15  # about 7: the trial is timed again, on a noisy machine


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
