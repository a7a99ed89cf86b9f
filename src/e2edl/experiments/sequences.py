"""The sequences lesson's experiment: recurrent layers checked against PyTorch, vanishing and exploding
gradients measured, three IMDb sentiment models scored once on the test set, and a character-level
LSTM on Tiny Shakespeare. The recipes are ``e2edl.recipes.sequences``; the notebook trains the same
models with the same arguments, so with ``resume=True`` this run reuses them.
"""

from __future__ import annotations

import dataclasses
import time

import matplotlib.pyplot as plt
import torch

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data.bucketing import padding_share, random_batches
from e2edl.data.text_windows import CharSplits, ConsecutiveWindows
from e2edl.data.tinyshakespeare import load_tinyshakespeare
from e2edl.figures import Table
from e2edl.nn.char_lm import CharRNN
from e2edl.nn.rnn_oracle import oracle_differences, packed_differences
from e2edl.recipes.sequences import (
    build_char_lm,
    char_lm_recipe,
    classifier_recipes,
    classify,
    clipping_demo,
    clipping_run,
    imdb_setup,
    same_steps_with_cell,
    tokenize_imdb,
    train_char_lm,
    train_text_classifier,
)
from e2edl.train.input_gradients import input_grad_norms

GRADIENT_DISTANCE = 40  # how far back the RNN-vs-LSTM gradient ratio is read
PROMPT = "ROMEO:\n"
TEMPERATURES = (0.5, 1.0)

# Published IMDb test accuracies (same 25,000 test reviews). Their models start from GloVe vectors and
# train on 17,500 reviews (the tutorial) or the full 25,000 (Keras, NBSVM); ours learn every vector here.
ANCHORS = [
    {"source": "bentrevett/pytorch-sentiment-analysis (tutorial 1, NBoW)", "model": "bag of words",
     "test_accuracy": 0.858, "note": "GloVe init, 17,500 training reviews"},
    {"source": "bentrevett/pytorch-sentiment-analysis (tutorial 2, LSTM)", "model": "2-layer BiLSTM",
     "test_accuracy": 0.862, "note": "GloVe init, 17,500 training reviews"},
    {"source": "bentrevett/pytorch-sentiment-analysis (tutorial 3, CNN)", "model": "CNN",
     "test_accuracy": 0.875, "note": "GloVe init, 17,500 training reviews"},
    {"source": "keras.io examples: Bidirectional LSTM on IMDB", "model": "2-layer BiLSTM",
     "test_accuracy": 0.878, "note": "first 200 words, 20,000-word vocabulary"},
    {"source": "Wang & Manning 2012, NBSVM-bi", "model": "linear, uni+bigrams",
     "test_accuracy": 0.912, "note": "naive-Bayes-weighted bigram features"},
]  # fmt: skip


# ------------------------------------------------------------------------------------- oracle


def oracle(cases: int) -> tuple[dict, Table]:
    rows, metrics = [], {}
    for kind in ("rnn", "lstm", "gru"):
        found = [oracle_differences(kind, seed) for seed in range(cases)]
        worst = {key: max(f[key] for f in found) for key in found[0]}
        packed = max(packed_differences(kind, seed) for seed in range(cases))
        rows.append({"layer": kind.upper(), "cases": cases, **worst, "packed_vs_alone": packed})
        metrics[f"{kind}_oracle_max_difference"] = max(*worst.values(), packed)
    formats = dict.fromkeys(("output", "final_state", "gradient", "packed_vs_alone"), ".1e")
    return metrics, Table(
        rows, title="e2edl.nn.rnn vs torch.nn, float64: largest differences", formats=formats
    )


# ------------------------------------------------------------------- character models, gradients


def relative_input_gradients(model: CharRNN, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(T,) ‖∂loss/∂x_t‖ of the last position's loss, divided by its value at the last step (distance 0)."""
    model.eval()
    last_logits = lambda embedded: model.logits_from_embeddings(embedded)[0][:, -1]  # (B, V)
    norms = input_grad_norms(last_logits, model.embedding(x).detach(), y[:, -1])  # (T,)
    return (norms / norms[-1]).flip(0)  # index d = distance from the end


def gradients_figure(curves: dict) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    for ax, when in zip(axes, ("at initialisation", "after training")):
        for cell, style in (("rnn", "--"), ("lstm", "-")):
            values = curves[(cell, when)]
            ax.plot(range(len(values)), values.clamp(min=1e-30), style, label=cell.upper())
        ax.set(xlabel="distance from the end of the window (characters)", yscale="log", title=when)
        ax.axvline(GRADIENT_DISTANCE, color="grey", lw=0.5)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("‖∂loss/∂x_t‖ ÷ its value at distance 0")
    return fig


def char_curves_figure(histories: dict) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for name, history in histories.items():
        ax.plot(history.series("elapsed"), history.series("val_loss"), marker="o", ms=3, label=name)
    ax.set(xlabel="training seconds", ylabel="validation loss (nats per character)",
           title="Character models on Tiny Shakespeare")  # fmt: skip
    ax.legend(fontsize=8)
    return fig


def clipping_figure(runs: dict) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for name, run in runs.items():
        axes[0].plot(run["loss"], label=name)
        axes[1].plot(run["grad_norm"], label=name)
    axes[0].set(xlabel="step", ylabel="training loss", yscale="log", title="Loss")
    axes[1].set(xlabel="step", ylabel="gradient norm (before clipping)", yscale="log", title="Gradient norm")
    axes[0].legend(fontsize=8)
    return fig


def char_models(cfg: RunConfig) -> tuple[dict, dict, dict, dict]:
    data = CharSplits.of(load_tinyshakespeare())
    lstm_recipe = char_lm_recipe(cfg.quick)
    x, y = next(iter(ConsecutiveWindows(data.val_ids, lstm_recipe.window, batch_size=64)))
    metrics, histories, curves, models = {}, {}, {}, {}
    for cell in ("lstm", "rnn"):  # the RNN: the LSTM's recipe and steps (same_steps_with_cell)
        recipe = (
            lstm_recipe if cell == "lstm" else same_steps_with_cell(lstm_recipe, histories["char LSTM"], cell)
        )
        curves[(cell, "at initialisation")] = relative_input_gradients(
            build_char_lm(recipe, len(data.vocabulary), cfg.seed), x, y
        )
        model, history = train_char_lm(data, recipe, **cfg.fit_options(f"char-{cell}"))
        models[cell], histories[f"char {cell.upper()}"] = model.cpu(), history
        curves[(cell, "after training")] = relative_input_gradients(model, x, y)
        metrics[f"char_{cell}_val_loss"] = history.last["val_loss"]
        metrics[f"char_{cell}_seconds"] = history.last["elapsed"]
    for when, key in (("at initialisation", "at_init"), ("after training", "trained")):
        lstm, rnn = curves[("lstm", when)][GRADIENT_DISTANCE], curves[("rnn", when)][GRADIENT_DISTANCE]
        metrics[f"lstm_over_rnn_gradient_{key}"] = float(lstm / rnn.clamp(min=1e-300))
    generate = models["lstm"].generate  # samples at a fixed seed, two temperatures
    start = data.vocabulary.encode(PROMPT)
    samples = []
    for t in TEMPERATURES:
        ids = generate(start, 400, temperature=t, generator=torch.Generator().manual_seed(cfg.seed))
        text = "".join(data.vocabulary.decode(ids))
        samples.append({"temperature": t, "sample": text.replace("\n", "<br>")})  # a table cell is one line

    demo = clipping_demo(cfg.quick)
    runs = {"no clipping": clipping_run(data, demo, clip=False, seed=cfg.seed),
            f"clipped to norm {demo.clip:g}": clipping_run(data, demo, clip=True, seed=cfg.seed)}  # fmt: skip
    unclipped, clipped = runs.values()
    metrics["unclipped_peak_loss"] = max(unclipped["loss"])
    metrics["unclipped_peak_grad_norm"] = max(unclipped["grad_norm"])
    metrics["clipped_peak_loss_after_start"] = max(clipped["loss"][1:])
    tail = max(10, demo.steps // 5)
    metrics["clipped_final_loss"] = sum(clipped["loss"][-tail:]) / tail
    metrics["unclipped_final_loss"] = sum(unclipped["loss"][-tail:]) / tail
    figures = {"char_curves": char_curves_figure(histories), "gradients": gradients_figure(curves),
               "clipping": clipping_figure(runs)}  # fmt: skip
    details = {
        "char_curves": {name: {"seconds": h.series("elapsed"), "val_loss": h.series("val_loss")}
                        for name, h in histories.items()},
        "gradient_curves": {f"{cell} {when}": c.tolist() for (cell, when), c in curves.items()},
        "char_lm_recipe": dataclasses.asdict(lstm_recipe),
        "val_windows": {"window": lstm_recipe.eval_window, "targets": ConsecutiveWindows(
            data.val_ids, lstm_recipe.eval_window, 64).targets, "val_characters": len(data.val_ids)},
    }  # fmt: skip
    tables = {"samples": Table(samples, title=f"char LSTM samples, prompt {PROMPT!r}, seed {cfg.seed}")}
    return metrics, figures, tables, details


# ---------------------------------------------------------------------------------------- IMDb


def imdb_curves_figure(histories: dict) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for name, history in histories.items():
        ax.plot(history.series("epoch"), history.series("val_accuracy"), marker="o", label=name)
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="IMDb: validation accuracy while training")
    ax.legend(fontsize=8)
    return fig


def mistakes_table(texts: list[str], labels: torch.Tensor, logits: torch.Tensor, n: int = 5) -> Table:
    """The ``n`` test reviews the model got wrong with the most confidence."""
    confidence, predictions = logits.softmax(1).max(1)
    wrong = (predictions != labels).nonzero().flatten()
    worst = wrong[confidence[wrong].argsort(descending=True)[:n]].tolist()
    names = ("negative", "positive")
    rows = []
    for i in worst:
        text = " ".join(texts[i].replace("<br />", " ").split())
        rows.append({"true": names[labels[i]], "predicted": names[predictions[i]],
                     "confidence": float(confidence[i]), "review": text[:400] + ("…" if len(text) > 400 else "")})  # fmt: skip
    return Table(
        rows, title=f"The {len(rows)} most confidently wrong test reviews", formats={"confidence": ".3f"}
    )


def imdb(cfg: RunConfig) -> tuple[dict, dict, dict]:
    metrics: dict = {}
    tokens = tokenize_imdb(imdb_setup(cfg.quick), seed=cfg.seed)
    metrics["tokenize_seconds"] = tokens.seconds
    start = time.perf_counter()
    datasets = {"bag-of-ngrams": tokens.ngrams()}
    metrics["ngram_features_seconds"] = time.perf_counter() - start
    datasets["bilstm"] = datasets["cnn"] = tokens.words()
    words = datasets["bilstm"]
    metrics.update(train_reviews=len(words.train), val_reviews=len(words.val), test_reviews=len(words.test),
                   word_vocabulary=len(words.vocabulary), ngram_vocabulary=len(datasets["bag-of-ngrams"].vocabulary))  # fmt: skip

    lengths = words.train.lengths
    padding = [{"batches": "random", "padding_share": padding_share(random_batches(len(lengths), 64, cfg.seed), lengths)},
               {"batches": "bucketed by length",
                "padding_share": padding_share(words.loader("train", 64, shuffle=True, seed=cfg.seed).batches(), lengths)}]  # fmt: skip
    metrics["padding_share_random"], metrics["padding_share_bucketed"] = (r["padding_share"] for r in padding)

    rows, histories, logits_of = [], {}, {}
    for name, recipe in classifier_recipes(cfg.quick).items():
        data = datasets[name]
        model, history = train_text_classifier(data, recipe, **cfg.fit_options(name))
        histories[name] = history
        logits, seconds = classify(model, data.loader("test", 256))  # the test set, once per model
        logits_of[name] = logits
        accuracy = float((logits.argmax(1) == data.test.labels).float().mean())
        metrics[f"{name}_test_accuracy".replace("-", "_")] = accuracy
        metrics[f"{name}_train_seconds".replace("-", "_")] = history.last["elapsed"]
        rows.append({"model": name, "test_accuracy": accuracy, "val_accuracy": history.last["val_accuracy"],
                     "parameters": sum(p.numel() for p in model.parameters()), "epochs": recipe.epochs,
                     "train_seconds": history.last["elapsed"], "reviews_per_second": len(logits) / seconds})  # fmt: skip
    best = max(rows, key=lambda r: r["val_accuracy"])["model"]  # chosen on validation, not test
    tables = {
        "imdb": Table(rows, title=f"IMDb: {len(words.test):,} test reviews, scored once per model",
                      formats={"test_accuracy": ".4f", "val_accuracy": ".4f", "train_seconds": ".0f",
                               "reviews_per_second": ".0f"}),
        "anchors": Table(ANCHORS, title="Published IMDb test accuracies", formats={"test_accuracy": ".3f"}),
        "padding": Table(padding, title="Share of a padded training batch (64 reviews) that is padding",
                         formats={"padding_share": ".3f"}),
        "mistakes": mistakes_table(tokens.test_texts, tokens.test_labels, logits_of[best]),
    }  # fmt: skip
    tables["mistakes"].title += f" ({best}, the best model on validation)"
    return metrics, {"imdb_curves": imdb_curves_figure(histories)}, tables


# ------------------------------------------------------------------------------------------ run


def run(cfg: RunConfig) -> dict:
    metrics, oracle_table = oracle(cases=4 if cfg.quick else 12)
    char_metrics, figures, tables, details = char_models(cfg)
    imdb_metrics, imdb_figures, imdb_tables = imdb(cfg)
    metrics.update(char_metrics)
    metrics.update(imdb_metrics)
    figures.update(imdb_figures)
    tables.update(imdb_tables)
    tables["oracle"] = oracle_table
    return {"metrics": metrics, "figures": figures, "tables": tables, **details}


LESSON = Lesson(
    name="sequences",
    title="Sequences: text into tensors, RNNs and LSTMs from scratch, IMDb sentiment, a character language model",
    datasets=("imdb", "tinyshakespeare"),
    claims=(
        Claim(
            "rnn_oracle_max_difference",
            "<=",
            1e-12,
            1e-12,
            "our Elman RNN = nn.RNN (outputs, states, gradients, packed)",
        ),
        Claim(
            "lstm_oracle_max_difference",
            "<=",
            1e-12,
            1e-12,
            "our LSTM = nn.LSTM (outputs, states, gradients, packed)",
        ),
        Claim(
            "gru_oracle_max_difference",
            "<=",
            1e-12,
            1e-12,
            "our GRU = nn.GRU (outputs, states, gradients, packed)",
        ),
        Claim(
            "lstm_over_rnn_gradient_trained",
            ">=",
            10.0,
            100.0,
            f"trained: the LSTM's gradient {GRADIENT_DISTANCE} characters back, relative to its last step's, "
            "beats the RNN's",
        ),
        Claim("unclipped_peak_loss", ">=", 10.0, 10.0, "without clipping, the RNN's loss explodes"),
        Claim(
            "clipped_peak_loss_after_start", "<=", 4.5, 4.5, "with clipping, it never rises above the start"
        ),
        Claim("char_lstm_val_loss", "<=", 2.5, 1.75, "char LSTM: validation loss (nats per character)"),
        Claim("char_lstm_seconds", "<=", None, 600, "char LSTM: training within 10 minutes", kind="timing"),
        Claim("bag_of_ngrams_test_accuracy", ">=", 0.80, 0.885, "IMDb test accuracy, bag of n-grams"),
        Claim(
            "bag_of_ngrams_train_seconds",
            "<=",
            None,
            60,
            "bag of n-grams: training under a minute",
            kind="timing",
        ),
        Claim("bilstm_test_accuracy", ">=", 0.65, 0.87, "IMDb test accuracy, BiLSTM"),
        Claim("cnn_test_accuracy", ">=", 0.70, 0.87, "IMDb test accuracy, 1-D CNN"),
    ),  # fmt: skip
    run=run,
)
