"""The text models read only real tokens, take ``fit``'s batches unchanged, and the character LSTM
continues a text from its state exactly as if it had read it in one go."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from e2edl.data.sequence_loader import SequenceLoader, text_collate
from e2edl.nn.char_lm import CharRNN, NextTokenLoss
from e2edl.nn.rnn import LSTM
from e2edl.nn.text_classifiers import BagOfNgrams, BiLSTMClassifier, TextCNN, reverse_within_lengths
from e2edl.train import evaluate, fit

pytestmark = pytest.mark.usefixtures("one_thread")

VOCAB = 50


def texts(seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(2, VOCAB, (n,), generator=g) for n in (9, 1, 4, 2, 7)]


def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {
        "bag-of-ngrams": BagOfNgrams(VOCAB, 8, sparse=False),
        "bilstm": BiLSTMClassifier(VOCAB, 8, 6),
        "bilstm-max": BiLSTMClassifier(VOCAB, 8, 6, pool="max"),
        "cnn": TextCNN(VOCAB, 8, 5, kernel_sizes=(2, 3)),
    }


@pytest.mark.parametrize("name", ["bag-of-ngrams", "bilstm", "bilstm-max", "cnn"])
def test_padding_never_changes_a_texts_logits(name: str) -> None:
    """Each text alone (no padding at all) and inside a padded batch: the same logits (float64)."""
    model = models()[name].double().eval()
    sequences = texts()
    (padded, lengths), _ = text_collate([(s, 0) for s in sequences])
    batch_logits = model((padded, lengths))
    assert batch_logits.shape == (5, 2)
    for row, seq in enumerate(sequences):
        alone = model((seq[None], torch.tensor([len(seq)])))
        assert (alone[0] - batch_logits[row]).abs().max() <= 1e-12


def test_the_bag_is_the_mean_of_its_tokens_embeddings() -> None:
    model = BagOfNgrams(VOCAB, 4, sparse=True).double()
    ids = torch.tensor([[3, 7, 7, 0, 0]])  # two padding slots
    mean = model.embedding.weight[[3, 7, 7]].mean(0)
    assert torch.allclose(model((ids, torch.tensor([3])))[0], model.head(mean), atol=1e-12)


def test_reversing_within_lengths_keeps_the_padding_and_undoes_itself() -> None:
    x = torch.arange(8).view(2, 4, 1)  # rows 0 1 2 3 and 4 5 6 7
    lengths = torch.tensor([4, 2])
    assert reverse_within_lengths(x, lengths)[..., 0].tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]
    assert torch.equal(reverse_within_lengths(reverse_within_lengths(x, lengths), lengths), x)


def test_the_bilstm_gives_a_packed_bidirectional_lstms_final_states() -> None:
    """Oracle: ``nn.LSTM(bidirectional=True)`` over the packed batch, with the same weights: its
    final states are the features the classifier's head reads (float64, 1e-12), with nn.LSTM and
    with our LSTM inside."""
    torch.manual_seed(0)
    packed_lstm = torch.nn.LSTM(8, 6, batch_first=True, bidirectional=True).double()
    (padded, lengths), _ = text_collate([(s, 0) for s in texts(1)])
    for rnn in (torch.nn.LSTM, LSTM):
        model = BiLSTMClassifier(VOCAB, 8, 6, rnn=rnn).double().eval()
        for direction, suffix in ((model.forward_lstm, ""), (model.backward_lstm, "_reverse")):
            direction.load_state_dict({k: getattr(packed_lstm, k + suffix) for k in direction.state_dict()})
        x = model.embedding(padded)
        _, (h_n, _) = packed_lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        want = model.head(torch.cat([h_n[0], h_n[1]], dim=1))
        assert (model((padded, lengths)) - want).abs().max() <= 1e-12


@pytest.mark.parametrize("name", ["bag-of-ngrams", "bilstm", "cnn"])
def test_fit_and_evaluate_take_the_loaders_batches_unchanged(name: str) -> None:
    model = models()[name]
    sequences = texts() * 4
    labels = [i % 2 for i in range(len(sequences))]
    loader = SequenceLoader(sequences, labels, batch_size=4, shuffle=True)
    history = fit(model, loader, epochs=1, loss_fn=torch.nn.CrossEntropyLoss(),
                  optimizer=torch.optim.Adam(model.parameters()), progress=False)  # fmt: skip
    assert len(history.records) == 1 and history.last["train_loss"] > 0
    assert (
        evaluate(model, SequenceLoader(sequences, labels, batch_size=8), torch.nn.CrossEntropyLoss())["loss"]
        > 0
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: fit moves the lengths there too")
@pytest.mark.parametrize("name", ["bilstm", "cnn"])
def test_on_a_gpu_the_models_take_fits_batches(name: str) -> None:
    """``fit`` moves the whole batch, lengths included, to the GPU; the models use them there
    (gathers, masks) and a GPU run matches the CPU's logits."""
    model = models()[name].double()
    loader = SequenceLoader(texts(), [0, 1, 0, 1, 0], batch_size=5)
    fit(model, loader, epochs=1, loss_fn=torch.nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0), device="cuda", progress=False)  # fmt: skip
    (padded, lengths), _ = next(iter(loader))
    on_gpu = model.eval()((padded.cuda(), lengths.cuda())).cpu()
    assert (on_gpu - model.cpu()((padded, lengths))).abs().max() <= 1e-10


def test_next_token_loss_is_the_mean_over_every_position() -> None:
    g = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(2, 3, 5, generator=g), torch.randint(5, (2, 3), generator=g)
    manual = -torch.stack(
        [logits[b, t].log_softmax(-1)[targets[b, t]] for b in range(2) for t in range(3)]
    ).mean()
    assert torch.allclose(NextTokenLoss()(logits, targets), manual)


def test_the_char_lstm_continues_from_its_state_and_samples_repeatably() -> None:
    torch.manual_seed(0)
    model = CharRNN(VOCAB, 8, 16, num_layers=2).double().eval()
    ids = torch.randint(VOCAB, (2, 12))
    whole = model(ids)
    first, state = model.forward_with_state(ids[:, :5])
    rest, _ = model.forward_with_state(ids[:, 5:], state)
    assert (torch.cat([first, rest], 1) - whole).abs().max() <= 1e-12
    prompt = torch.tensor([3, 4])
    a = model.generate(prompt, 20, temperature=0.8, generator=torch.Generator().manual_seed(1))
    b = model.generate(prompt, 20, temperature=0.8, generator=torch.Generator().manual_seed(1))
    assert a.shape == (22,) and torch.equal(a, b) and torch.equal(a[:2], prompt)
    cold = model.generate(prompt, 5, temperature=1e-4, generator=torch.Generator().manual_seed(2))
    greedy = [*prompt.tolist()]
    for _ in range(5):
        greedy.append(int(model(torch.tensor([greedy]))[0, -1].argmax()))
    assert cold.tolist() == greedy
    with pytest.raises(ValueError, match="temperature"):
        model.generate(prompt, 1, temperature=0)
    assert F.softmax(whole, -1).sum(-1).allclose(torch.ones(2, 12, dtype=torch.float64))


@pytest.mark.parametrize("pool", ["last", "max"])
def test_the_recipe_builds_the_bilstm_with_its_pooling(pool: str) -> None:
    """Every setting of a recipe reaches the model (a recipe once asked for max pooling and got the last states)."""
    from e2edl.recipes.sequences import TextClassifierRecipe, build_text_classifier

    model = build_text_classifier(TextClassifierRecipe(model="bilstm", pool=pool, width=8, embed_dim=8), 50)
    assert isinstance(model, BiLSTMClassifier) and model.pool == pool
