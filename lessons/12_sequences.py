# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Sequences: text into tensors, recurrent networks, sentiment and a character language model
#
# Every network so far read a tensor of one fixed shape: 28×28 pixels, 3×160×160 pixels. Text is
# not like that. A review has 10 words or 2,000; a play is one string of a million characters. This
# lesson builds what it takes to learn from sequences, each piece by hand first and then checked
# against the library's and PyTorch's version:
#
# 1. **Text into tensors**: tokens, a vocabulary built from the training split only, ids and back,
#    embeddings, and batches of unequal lengths (padding, lengths, bucketing).
# 2. **Recurrent layers**: an Elman RNN step and the LSTM's gates written from their equations, and
#    equal to `nn.RNN` / `nn.LSTM`; packed sequences, which let a batch hold sequences of many lengths.
# 3. **A character-level language model** on Tiny Shakespeare (the corpus of char-rnn and nanoGPT),
#    trained for a fixed budget; the GPT lesson will put its transformer beside this curve.
# 4. **Why gradients vanish and explode** in a recurrent network, measured, and gradient clipping.
# 5. **IMDb sentiment** on the real 25,000 / 25,000 split: a bag of n-grams, a bidirectional LSTM and
#    a 1-D CNN, chosen on a validation split, each scored once on the test set, next to published numbers.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("sequences")  # prints the mode, the run folder and the reference timings

# %%
import re
import time
from collections import Counter

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from e2edl.data.bucketing import padding_share, random_batches
from e2edl.data.sequence_loader import text_collate
from e2edl.data.text import Vocabulary, word_tokens
from e2edl.data.text_windows import CharSplits, ConsecutiveWindows, RandomWindows
from e2edl.data.tinyshakespeare import load_tinyshakespeare
from e2edl.exercises import check  # for the exercises at the end
from e2edl.nn.rnn import LSTM, RNN
from e2edl.nn.rnn_oracle import oracle_differences, packed_differences
from e2edl.nn.text_classifiers import reverse_within_lengths
from e2edl.recipes import sequences as recipes
from e2edl.train.input_gradients import input_grad_norms

# %% [markdown]
# ## 1. Text into tensors
#
# The IMDb data set (Maas et al. 2011) holds 50,000 movie reviews, each labelled positive (rated 7–10
# of 10) or negative (1–4), split evenly into 25,000 for training and 25,000 for testing. Here is
# one, as the file holds it:

# %%
setup = recipes.imdb_setup(QUICK)
imdb = recipes.tokenize_imdb(setup, seed=0)  # loads the reviews, splits off validation, tokenises
print(f"{len(imdb.train_texts):,} training reviews ({len(imdb.train_idx):,} to learn from, "
      f"{len(imdb.val_idx):,} for validation), {len(imdb.test_texts):,} test reviews; "
      f"tokenised in {imdb.seconds:.1f} s")  # fmt: skip
review = imdb.train_texts[0]
print("positive" if imdb.train_labels[0] else "negative", "|", review[:500])

# %% [markdown]
# ### Tokens
#
# A network cannot read a string. The first step cuts it into **tokens**, the units that will get a
# number each. For words: lower-case everything (so "Great" and "great" are one token), turn the
# HTML line breaks IMDb keeps (`<br />`) into spaces, and keep each word — letters and digits, with
# inner apostrophes so that "don't" stays one token — and each punctuation mark ("!" carries
# sentiment). Two regular expressions do it:


# %%
def tokenize(text: str) -> list[str]:
    text = re.sub(r"<br\s*/?>", " ", text, flags=re.IGNORECASE).lower()
    return re.findall(r"\w+(?:'\w+)*|[^\w\s]", text)


print(tokenize(review)[:40])

# %% [markdown]
# The library's tokenizer is the same two expressions, `e2edl.data.text.word_tokens` (its test
# checks that Hugging Face's `tokenizers`, given the same rules, cuts every review the same way).
# From here on we use the library's:

# %%
same = all(tokenize(t) == word_tokens(t) for t in imdb.train_texts[:2000])
print("tokenize == word_tokens on 2,000 reviews:", same)
assert same

# %% [markdown]
# ### A vocabulary, from the training split only
#
# Next each token gets a number. Count the tokens of the **training** part, keep those seen at least
# `min_freq` times, most frequent first. Two special tokens come first: `<pad>` (0), which fills
# the end of short sequences in a batch, and `<unk>` (1), which stands for every token the vocabulary
# does not hold. Why only the training part? The vocabulary is part of the model: building it from
# validation or test reviews would let their words shape the model before it is scored on them.
# Words met later for the first time are what `<unk>` is for.

# %%
train_tokens = [imdb.train_tokens[i] for i in imdb.train_idx.tolist()]
counts = Counter(token for tokens in train_tokens for token in tokens)
kept = sorted((t for t, n in counts.items() if n >= setup.min_freq), key=lambda t: (-counts[t], t))
itos = ["<pad>", "<unk>", *kept]  # index → token
print(
    f"{len(counts):,} distinct tokens in the training part; {len(itos):,} kept with min_freq={setup.min_freq}"
)
print("most frequent:", kept[:15])

ranks = torch.arange(1, len(counts) + 1)
frequencies = torch.tensor(sorted(counts.values(), reverse=True))
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.loglog(ranks, frequencies)
ax.axhline(setup.min_freq, color="grey", lw=0.8, ls="--", label=f"min_freq = {setup.min_freq}")
ax.set(xlabel="rank of the token", ylabel="count in the training part",
       title="Token counts: a few very common, most very rare (Zipf)")  # fmt: skip
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Counts fall as a power of the rank (Zipf's law): most distinct tokens are seen once or twice —
# typos, names, rare words — and the cut-off drops them for a small cost. The library builds the
# same list (`Vocabulary.build`); how many validation tokens become `<unk>` measures that cost:

# %%
vocabulary = Vocabulary.build(train_tokens, min_freq=setup.min_freq)
assert vocabulary.itos == itos
print("our itos == Vocabulary.build(...).itos:", vocabulary.itos == itos)
val_ids = [vocabulary.encode(imdb.train_tokens[i]) for i in imdb.val_idx.tolist()]
print(
    f"validation tokens that became <unk>: {100 * sum(int((v == 1).sum()) for v in val_ids) / sum(len(v) for v in val_ids):.2f}%"
)

ids = vocabulary.encode(word_tokens("A truly GREAT film, not a dull moment. Zzzyzx!"))
print(ids.tolist())
print(vocabulary.decode(ids))

# %% [markdown]
# ### From ids to vectors: an embedding is a one-hot vector times a matrix
#
# An id is a name, not a quantity: id 40 is not "twice" id 20. The network first turns each id into
# a learned vector. Written as arithmetic, that is a **one-hot** vector (all zeros, a one at the id)
# times a matrix `W` (vocabulary × dimension): the product picks row `id` of `W`. `nn.Embedding`
# does exactly that, without building the mostly-zero one-hot vectors:

# %%
torch.manual_seed(0)
embedding = nn.Embedding(len(vocabulary), 8)
one_hot = F.one_hot(ids, len(vocabulary)).float()  # (T, V): one 1 per row
by_matmul = one_hot @ embedding.weight  # (T, V) @ (V, 8) → (T, 8)
print("one-hot × W == nn.Embedding(ids):", torch.equal(by_matmul, embedding(ids)))
assert torch.equal(by_matmul, embedding(ids))

# %% [markdown]
# The gradient follows the same logic: only the rows of the ids in a batch receive gradient. That
# is why a bag-of-n-grams model with hundreds of thousands of rows can train fast with *sparse*
# gradients (section 5).
#
# ### Batches of unequal lengths: padding, lengths and buckets
#
# A batch is one tensor, so its reviews are padded with `<pad>` to the longest one, and the true
# lengths travel with it: `((padded, lengths), labels)`, the batches `fit` will receive. The
# library's `text_collate` builds them on `pad_collate` (the dataloaders lesson):

# %%
words = imdb.words()  # the three parts as ids: the first max_tokens tokens of each review
assert words.vocabulary.itos == itos  # the models' vocabulary is the one built above
samples = [(words.train.sequences[i], int(words.train.labels[i])) for i in range(4)]
(padded, lengths), batch_labels = text_collate(samples, pad_id=vocabulary.pad_id)
print("padded", tuple(padded.shape), "lengths", lengths.tolist(), "labels", batch_labels.tolist())
print("padding share of this batch:", f"{1 - lengths.sum().item() / padded.numel():.2f}")

# %% [markdown]
# Drawn at random, a batch mixes short and long reviews, and much of the padded tensor is padding:
# work spent on nothing. **Bucketing** shuffles, sorts chunks of 50 batches by length and cuts them
# into batches, so each batch holds reviews of similar length, and then shuffles the batches:

# %%
all_lengths = words.train.lengths
shares = {
    "random batches": padding_share(random_batches(len(all_lengths), 64, seed=0), all_lengths),
    "bucketed batches": padding_share(words.loader("train", 64, shuffle=True).batches(), all_lengths),
}
for name, share in shares.items():
    print(f"{name:>16}: {100 * share:.1f}% of a batch of 64 is padding")

# %% [markdown]
# ## 2. Recurrent layers, by hand
#
# ### An Elman RNN step
#
# A recurrent network reads a sequence one step at a time and carries a **hidden state** `h`, its
# summary of everything read so far. Each step mixes the new input with the old state through the
# same weights:
#
# `h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)`
#
# Written out, with the weights of the library's `RNN` (named and shaped like `nn.RNN`'s):

# %%
torch.manual_seed(0)
rnn = RNN(input_size=4, hidden_size=3).double()
x = torch.randn(6, 2, 4, dtype=torch.float64)  # (T, B, I): 6 steps, a batch of 2
h = torch.zeros(2, 3, dtype=torch.float64)  # (B, H): the state before the first step
states = []
for t in range(x.size(0)):
    h = torch.tanh(x[t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0)
    states.append(h)
by_hand = torch.stack(states)  # (T, B, H)

output, h_n = rnn(x)
torch_rnn = nn.RNN(4, 3).double()
torch_rnn.load_state_dict(rnn.state_dict())  # the same names and shapes, so the weights load
torch_output, _ = torch_rnn(x)
print("by hand vs e2edl RNN:", (by_hand - output).abs().max().item())
print("e2edl RNN vs nn.RNN: ", (output - torch_output).abs().max().item())
assert torch.allclose(by_hand, output, atol=1e-12) and torch.allclose(output, torch_output, atol=1e-12)

# %% [markdown]
# ### The LSTM's gates
#
# The LSTM (Hochreiter & Schmidhuber 1997; the forget gate is Gers et al. 2000) keeps a second
# state, the **cell** `c`, and controls it with gates — numbers between 0 and 1 from a sigmoid, one
# per cell unit:
#
# - the **forget** gate `f` decides how much of the old cell to keep,
# - the **input** gate `i` how much of the candidate `g = tanh(…)` to write,
# - the **output** gate `o` how much of the squashed cell to show as `h`.
#
# `c_t = f ⊙ c_{t−1} + i ⊙ g`, `h_t = o ⊙ tanh(c_t)`. All four come from one product each with
# `x_t` and `h_{t−1}`; PyTorch stacks them as rows in the order i, f, g, o:

# %%
torch.manual_seed(0)
lstm = LSTM(input_size=4, hidden_size=3).double()
h = torch.zeros(2, 3, dtype=torch.float64)
c = torch.zeros(2, 3, dtype=torch.float64)
outputs, gate_means = [], []
for t in range(x.size(0)):
    gates = (
        x[t] @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h @ lstm.weight_hh_l0.T + lstm.bias_hh_l0
    )  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g  # keep some of the old memory, write some of the new
    h = o * torch.tanh(c)
    outputs.append(h)
    gate_means.append([i.mean().item(), f.mean().item(), o.mean().item()])
by_hand = torch.stack(outputs)

output, (h_n, c_n) = lstm(x)
torch_lstm = nn.LSTM(4, 3).double()
torch_lstm.load_state_dict(lstm.state_dict())
torch_output, (torch_h, torch_c) = torch_lstm(x)
print("mean input, forget, output gate per step (untrained: all near 0.5):")
print(torch.tensor(gate_means).round(decimals=2))
print(
    "by hand vs e2edl LSTM:",
    (by_hand - output).abs().max().item(),
    "| cell:",
    (c - c_n[0]).abs().max().item(),
)
print("e2edl LSTM vs nn.LSTM:", (output - torch_output).abs().max().item())
assert torch.allclose(by_hand, output, atol=1e-12) and torch.allclose(output, torch_output, atol=1e-12)

# %% [markdown]
# The library's `RNN`, `LSTM` and `GRU` (`e2edl.nn.rnn`) add layers, a second direction and
# `batch_first` around these steps. Their oracle: PyTorch's layer with the same weights, on random
# sizes, layer counts and directions, in float64 — outputs, final states and the gradients of the
# input, the initial state and every weight. Here are six random cases of each:

# %%
for kind in ("rnn", "lstm", "gru"):
    worst = {key: max(oracle_differences(kind, seed)[key] for seed in range(6))
             for key in ("output", "final_state", "gradient")}  # fmt: skip
    print(f"{kind:>4}: " + ", ".join(f"{key} {value:.1e}" for key, value in worst.items()))

# %% [markdown]
# Same numbers, different speed. Ours runs one small matrix product and a handful of element-wise
# operations per time step, each a separate call from Python; PyTorch's layer runs one fused C++
# kernel for the whole sequence (oneDNN on a CPU, cuDNN on a GPU). One training step (forward and
# backward) of a character-model-sized LSTM, with the same weights in both:


# %%
def step_seconds(features, repeats=3):
    """Median time of forward + backward."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        features().sum().backward()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


torch.manual_seed(0)
fused_lstm = nn.LSTM(64, 256, batch_first=True)
our_lstm = LSTM(64, 256, batch_first=True)
our_lstm.load_state_dict(fused_lstm.state_dict())
characters = torch.randn(32, 128, 64)  # (B, T, E): 32 windows of 128 characters
print("largest difference:", (our_lstm(characters)[0] - fused_lstm(characters)[0]).abs().max().item())
with recipes.flush_denormals():  # see section 4
    ours_s = step_seconds(lambda: our_lstm(characters)[0])
    fused_s = step_seconds(lambda: fused_lstm(characters)[0])
print(f"one step: ours {1000 * ours_s:.0f} ms, nn.LSTM {1000 * fused_s:.0f} ms "
      f"({ours_s / fused_s:.1f}× on this machine)")  # fmt: skip

# %% [markdown]
# That factor is why the long trainings below use `nn.LSTM`; `benchmarks/lstm_vs_nn_lstm.py`
# measures it with a full Adam step, at the shapes of this lesson's two models.
#
# ### Packed sequences: each sequence stops at its own end
#
# A batch padded to 8 steps feeds a 3-token review five steps of `<pad>` — and an LSTM's final
# state would then be the state after the padding, not after the review's last word.
# `pack_padded_sequence` stores the batch step by step, each step holding only the sequences still
# running, so the layer stops each sequence at its own length:

# %%
torch.manual_seed(0)
lengths = torch.tensor([8, 3])
x = torch.randn(2, 8, 4, dtype=torch.float64)  # (B, T, I), batch first
x[1, 3:] = 0  # the second sequence is padding after 3 steps
torch_lstm = nn.LSTM(4, 3, batch_first=True).double()
_, (h_padded, _) = torch_lstm(x)
packed_output, (h_packed, _) = torch_lstm(pack_padded_sequence(x, lengths, batch_first=True))
_, (h_alone, _) = torch_lstm(x[1:, :3])  # the second sequence alone, unpadded
unpacked, _ = pad_packed_sequence(packed_output, batch_first=True)
print("final state, padded input vs alone:", (h_padded[0, 1] - h_alone[0, 0]).abs().max().item())
print("final state, packed input vs alone:", (h_packed[0, 1] - h_alone[0, 0]).abs().max().item())
print("packed final state == output at the last real token (position 2):",
      torch.equal(h_packed[0, 1], unpacked[1, 2]))  # fmt: skip
print(
    "our LSTM, packed, worst case over 6 random batches:",
    max(packed_differences("lstm", s) for s in range(6)),
)

# %% [markdown]
# `pack_padded_sequence` wants the lengths as a CPU tensor, wherever the model runs (it reads them
# to lay the batch out); a model that packs on a GPU calls it with `lengths.cpu()`.
#
# The BiLSTM classifier of section 5 needs exactly this — each direction's state at the review's
# own end — and gets the same numbers without packing: the forward LSTM runs over the padded batch
# and is read at position `length − 1` (what comes after a token cannot change what came before),
# and the backward LSTM runs over each review **reversed within its length**
# (`reverse_within_lengths`) and is read at the same position. Why bother? On a CPU, PyTorch's fused
# LSTM kernel (oneDNN) takes padded batches, while a packed batch goes through a slower general
# path. One training step each way, with the same weights:

# %%
torch.manual_seed(0)
B, T, width = 32, 256, 64
x = torch.randn(B, T, width)
lengths = torch.randint(T // 2, T + 1, (B,))
bidirectional = nn.LSTM(width, width, batch_first=True, bidirectional=True)
forward_lstm, backward_lstm = nn.LSTM(width, width, batch_first=True), nn.LSTM(width, width, batch_first=True)
forward_lstm.load_state_dict({k: getattr(bidirectional, k) for k in forward_lstm.state_dict()})
backward_lstm.load_state_dict({k: getattr(bidirectional, k + "_reverse") for k in backward_lstm.state_dict()})


def packed_features():  # (B, 2H): the packed bidirectional LSTM's final states
    _, (h_n, _) = bidirectional(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    return torch.cat([h_n[0], h_n[1]], dim=1)


def two_passes():  # the same, from two fused passes over the padded batch
    last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, width)
    forward_out, _ = forward_lstm(x)
    backward_out, _ = backward_lstm(reverse_within_lengths(x, lengths))
    return torch.cat([forward_out.gather(1, last), backward_out.gather(1, last)], dim=2)[:, 0]


print("largest difference, packed vs two passes:", (packed_features() - two_passes()).abs().max().item())
with recipes.flush_denormals():  # see section 4
    packed_s, passes_s = step_seconds(packed_features), step_seconds(two_passes)
print(f"one step: packed {1000 * packed_s:.0f} ms, two fused passes {1000 * passes_s:.0f} ms "
      f"({packed_s / passes_s:.1f}× on this machine)")  # fmt: skip

# %% [markdown]
# ## 3. A character-level language model
#
# A language model predicts the next token from the ones before. At the character level the
# vocabulary is tiny (65 characters for Tiny Shakespeare), and the model must learn spelling, words
# and the look of a play by itself. We use nanoGPT's split — the first 90% of the text to train on,
# the last 10% to validate on — and its metric, the mean cross-entropy per character in nats.
# Training batches are random windows; the target of each character is the next one:

# %%
chars = CharSplits.of(load_tinyshakespeare())
print(f"{len(chars.train_ids):,} training and {len(chars.val_ids):,} validation characters; "
      f"vocabulary of {len(chars.vocabulary)}: {''.join(chars.vocabulary.itos)!r}")  # fmt: skip
xb, yb = next(iter(RandomWindows(chars.train_ids, length=40, batch_size=2, steps=1)))
for row in range(2):
    print(
        repr("".join(chars.vocabulary.decode(xb[row]))), "→", repr("".join(chars.vocabulary.decode(yb[row])))
    )
lm_recipe = recipes.char_lm_recipe(QUICK)
val_windows = ConsecutiveWindows(chars.val_ids, lm_recipe.eval_window, batch_size=64)
print(f"validation: all {val_windows.windows} complete windows of {lm_recipe.eval_window} characters "
      f"({val_windows.targets:,} of the {len(chars.val_ids) - 1:,} next-character predictions), each from a zero state")  # fmt: skip

# %% [markdown]
# The model, `CharRNN`, is an embedding, a recurrent layer (`nn.LSTM`) and a linear layer to 65
# logits at every position. The recipe trains it with Adam, a short warm-up and a cosine decay, the
# gradient norm clipped to 1 (section 4 says why). In full mode it trains for a wall-clock budget,
# seven minutes of your machine: `plan_epochs` times a few steps and one validation pass on a
# throwaway copy, and the run gets as many whole "epochs" of 200 steps as fit (the cosine schedule
# spans exactly those, and a resumed run keeps its plan). Quick mode trains a fixed 100 steps. After
# every "epoch" it scores the whole validation split, so the history holds validation loss against
# training seconds — the curve the gpt lesson puts its transformer beside:

# %%
show_source(recipes.train_char_lm)
print(lm_recipe)

# %%
char_lstm, lstm_history = recipes.train_char_lm(chars, lm_recipe, run_dir=OUT / "char-lstm", seed=0)
print(f"validation loss {lstm_history.last['val_loss']:.3f} nats per character after "
      f"{lstm_history.last['elapsed']:.0f} s of training")  # fmt: skip

# %% [markdown]
# To see what the LSTM's gates buy, the same recipe with an Elman RNN in its place (`cell="rnn"`),
# for the same number of steps as the LSTM took (`same_steps_with_cell`: same batches, same
# schedule; the RNN's steps are cheaper, so its curve ends sooner in seconds).
# To try your own settings, `dataclasses.replace(lm_recipe, hidden_size=256)` — and give it another
# `run_dir`: a folder holds one recipe's checkpoint, and a different recipe there is an error.

# %%
rnn_recipe = recipes.same_steps_with_cell(lm_recipe, lstm_history, "rnn")  # the LSTM's steps, another cell
char_rnn, rnn_history = recipes.train_char_lm(chars, rnn_recipe, run_dir=OUT / "char-rnn", seed=0)
fig, ax = plt.subplots(figsize=(5.5, 3.4))
for name, history in (("LSTM", lstm_history), ("RNN", rnn_history)):
    ax.plot(history.series("elapsed"), history.series("val_loss"), marker="o", ms=3, label=name)
ax.set(
    xlabel="training seconds", ylabel="validation loss (nats per character)", title="Same recipe, two cells"
)
ax.legend()
plt.show()

# %% [markdown]
# Sampling feeds the model its own output: draw a character from `softmax(logits / temperature)`,
# append it, repeat. A low temperature sharpens the distribution (safer, more repetitive), a high
# one flattens it (more varied, more misspelt):

# %%
prompt = chars.vocabulary.encode("ROMEO:\n")
for temperature in (0.5, 1.0):
    sample = char_lstm.generate(
        prompt, 300, temperature=temperature, generator=torch.Generator().manual_seed(0)
    )
    print(f"--- temperature {temperature}\n{''.join(chars.vocabulary.decode(sample))}\n")

# %% [markdown]
# ## 4. Why gradients vanish — and explode
#
# Backpropagation through a recurrent network multiplies, for every step back, by the Jacobian of
# one step, `∂h_t/∂h_{t−1}`. For the RNN that is `diag(1 − h_t²) W_hh`: when its size is below one,
# the gradient reaching a step `k` positions back shrinks like a `k`-th power — it **vanishes**, and
# nothing far back can be learned from. Above one it **explodes**. The LSTM's cell adds instead:
# `∂c_t/∂c_{t−1} = f`, the forget gate, which the network can learn to hold near 1.
#
# Measured: the norm of the gradient of the loss at the *last* position of a 128-character window
# with respect to each input vector `x_t`, against the distance from the end — for both models at
# initialisation (the weights the recipe starts from) and after training, each divided by its value
# at distance 0:

# %%
x_val, y_val = next(iter(ConsecutiveWindows(chars.val_ids, lm_recipe.window, batch_size=64)))


def relative_gradients(model):
    model.eval()
    last_logits = lambda embedded: model.logits_from_embeddings(embedded)[0][:, -1]  # (B, V)
    norms = input_grad_norms(last_logits, model.embedding(x_val).detach(), y_val[:, -1])  # (T,)
    return (norms / norms[-1]).flip(0)  # index d: distance d from the end


def fresh(recipe):  # the weights train_char_lm starts from
    return recipes.build_char_lm(recipe, len(chars.vocabulary), seed=0)


curves = {}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
pairs = {"at initialisation": (fresh(lm_recipe), fresh(rnn_recipe)), "after training": (char_lstm, char_rnn)}
for ax, (when, (lstm_model, rnn_model)) in zip(axes, pairs.items()):
    for name, model, style in (("RNN", rnn_model, "--"), ("LSTM", lstm_model, "-")):
        curves[(name, when)] = relative_gradients(model)
        ax.plot(curves[(name, when)].clamp(min=1e-30), style, label=name)
    ax.set(xlabel="distance from the end of the window (characters)", yscale="log", title=when)
    ax.legend(fontsize=8)
axes[0].set_ylabel("‖∂loss/∂x_t‖ ÷ its value at distance 0")
plt.show()
for (name, when), curve in curves.items():
    print(f"{name:>4} {when:>17}: " + ", ".join(f"{d} back {curve[d]:.1e}" for d in (5, 10, 20, 40)))

# %% [markdown]
# Both fall geometrically — straight lines on the log scale — and the RNN's faster: the printed
# values say by how much, a few dozen characters back. Whatever the RNN could learn about those
# characters reaches its weights many times weaker than the LSTM's. (Initialisation matters too:
# the LSTM's forget gates start near σ(0) = 0.5; many implementations start their bias at 1 or
# more to let gradients through from the first step.)
#
# A vanishing gradient also costs *time* on most x86 CPUs. Once it falls below 1.2·10⁻³⁸, the smallest
# normal float32, it becomes a *denormal* number, and the CPU's arithmetic on denormals is many
# times slower. The recipes therefore train inside `recipes.flush_denormals()`, which treats such
# numbers as zero (`torch.set_flush_denormal(True)`). The two-pass BiLSTM step of section 2, timed
# both ways (its loss reads only the final states, so gradients must travel back over 128–256 steps):

# %%
slow = step_seconds(two_passes)
with recipes.flush_denormals():
    flushed = step_seconds(two_passes)
print(f"denormals computed: {1000 * slow:.0f} ms, flushed to zero: {1000 * flushed:.0f} ms "
      f"({slow / flushed:.1f}× on this machine)")  # fmt: skip

# %% [markdown]
# The opposite failure, an **exploding** gradient, shows as sudden spikes: the loss surface of a
# recurrent network has cliffs, and one step on a cliff's gradient throws the weights far away.
# **Gradient clipping** rescales the whole gradient whenever its norm exceeds a threshold, keeping its
# direction: `g ← g · min(1, max_norm / ‖g‖)`. The run below trains the RNN with plain SGD at a
# learning rate that is too high for it, with and without clipping (`torch.nn.utils.clip_grad_norm_`,
# which `fit(grad_clip=...)` calls); the hand-over shows the result:

# %%
show_source(recipes.clipping_run)

# %% [markdown]
# ## 5. IMDb sentiment: three models on the same tokens
#
# Three ways to read a review, each trained with its own recipe on the 20,000 training reviews left
# after holding out 5,000 for validation (in full mode; quick mode uses a subset). The recipes —
# learning rates, epochs, widths — were chosen by their validation accuracy, never by the test set.
#
# - **A bag of n-grams** (fastText, Joulin et al. 2017): the mean of the embeddings of the review's
#   words *and bigrams* ("not good" gets its own vector, so word order enters over a distance of
#   one), then a linear layer. `nn.EmbeddingBag` looks up and averages in one kernel; with sparse
#   gradients and Adagrad only the rows of the batch's n-grams are touched at each step.
# - **A bidirectional LSTM**: one LSTM reads left to right, another right to left, each stopping at
#   the review's own end (section 2: packed numbers, from two fused passes). The classic summary is
#   the forward state at the last real word and the backward one at the first; the recipe here
#   takes each unit's largest value over all real positions of both directions (`pool="max"`), so a
#   strong phrase early in a long review still counts — on validation it beat the final states
#   (0.879 against 0.846 after three epochs). Its learning rate decays along a cosine to zero over
#   the three epochs (`schedule="cosine"`), which added most of a point more on validation than a
#   constant rate (`classifier_recipes`, shown below, lists the validation numbers behind each choice).
# - **A 1-D CNN** (Kim 2014): convolutions 3, 4 and 5 words wide slide over the embeddings and
#   detect phrases; each filter's largest response anywhere in the review goes to a linear layer.

# %%
show_source(recipes.train_text_classifier)
show_source(recipes.classifier_recipes)
classifier_recipes = recipes.classifier_recipes(QUICK)
print(*classifier_recipes.values(), sep="\n")

# %%
ngrams = imdb.ngrams()  # words and bigrams, one vocabulary from the training part
print(f"vocabularies: {len(words.vocabulary):,} words; {len(ngrams.vocabulary):,} words and bigrams")
data_for = {"bag-of-ngrams": ngrams, "bilstm": words, "cnn": words}
histories = {}
for name, recipe in classifier_recipes.items():
    _, histories[name] = recipes.train_text_classifier(data_for[name], recipe, run_dir=OUT / name, seed=0)
    print(f"{name}: validation accuracy {histories[name].last['val_accuracy']:.4f} "
          f"after {histories[name].last['elapsed']:.0f} s")  # fmt: skip

# %% [markdown]
# ## 6. The run: every claim, the test set scored once
#
# `run_lesson` reuses every model trained above (same recipe, same folder), scores each once on the
# test set, draws the figures and checks the lesson's claims.

# %%
from e2edl.course import full_run, run_lesson

result = run_lesson("sequences", quick=QUICK, out=OUT, resume=True)

# %% [markdown]
# The three models on the test set: accuracy, size, training time and how many reviews per second
# each classifies (bucketed batches of 256):

# %%
result.tables["imdb"]

# %% [markdown]
# Published numbers on the same 25,000 test reviews. Keep the differences in mind: the tutorial's
# models start from pretrained GloVe word vectors (ours learn every vector from these reviews) and
# train on 17,500 reviews; NBSVM (Wang & Manning 2012) is a linear model on naive-Bayes-weighted
# uni- and bigram features, about the best a bag of n-grams can aim for.

# %%
result.tables["anchors"]

# %% [markdown]
# The reviews the best model on validation got most confidently wrong. Some are mislabelled or
# sarcastic; many praise the actors and damn the film, or the other way round:

# %%
result.tables["mistakes"]

# %% [markdown]
# Validation accuracy per epoch (how the epochs were chosen), and the character models' validation
# loss against training seconds:

# %%
result.show("imdb_curves", "char_curves")

# %% [markdown]
# Gradient clipping: without it (blue) the loss leaps after the first large gradient and the run
# never recovers its progress; clipped to norm 0.5, the same steps train smoothly:

# %%
result.show("clipping")
result.tables["padding"]

# %% [markdown]
# What the full run on the reference machine measured (when one is recorded):

# %%
full_run("sequences")

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each asks for a piece of this lesson. Write it in the cell tagged `exercise`, then run the cell
# after it: it prints ✓, or ✗ with a hint saying what is wrong. `e2edl check sequences --notebook
# <your copy>` checks them all from the command line.
#
# ### 1. A vocabulary
#
# From a list of token lists (the training texts) and `min_freq`, return the vocabulary as a list
# `itos` (index → token): `"<pad>"`, `"<unk>"`, then every token seen at least `min_freq` times over
# all the texts, the most frequent first, tokens seen equally often in alphabetical order.

# %% tags=["exercise"]
from collections import Counter


def build_vocabulary(token_lists: list[list[str]], min_freq: int) -> list[str]:
    """["<pad>", "<unk>", tokens seen >= min_freq times, most frequent first, ties alphabetical]."""
    raise NotImplementedError  # your code here


# %%
check("build-vocabulary", build_vocabulary)

# %% [markdown]
# ### 2. One LSTM step
#
# Given `x` (B, I), the state `h`, `c` (B, H) and PyTorch's weights — `w_ih` (4H, I), `w_hh` (4H, H),
# `b_ih`, `b_hh` (4H,), the gates stacked in the order i, f, g, o — return the new `(h, c)`.

# %% tags=["exercise"]
import torch


def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One LSTM step: (h, c) after reading x."""
    raise NotImplementedError  # your code here


# %%
check("lstm-step", lstm_step)

# %% [markdown]
# ### 3. The output at the last real token
#
# A recurrent layer run on a *padded* batch (no packing) gives outputs (B, T, H) for every position,
# padding included. Return (B, H): for each sequence, its output at its own last real token.

# %% tags=["exercise"]
import torch


def last_real_output(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """outputs (B, T, H), lengths (B,) → (B, H), row b taken at position lengths[b] − 1."""
    raise NotImplementedError  # your code here


# %%
check("last-real-output", last_real_output)
