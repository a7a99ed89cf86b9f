"""e2edl — Deep Learning from End to End: the course's companion library.

Ground floor (import nothing above them): ``e2edl.data``, ``e2edl.autograd``, ``e2edl.nn``,
``e2edl.train``, with ``e2edl.figures`` and ``e2edl.atomic``. On top: ``e2edl.recipes`` (the training
recipe each lesson is about), ``e2edl.experiments`` (one thin module per lesson: ``run(cfg)``),
``e2edl.course`` (registry, runner, claims, report), ``e2edl.exercises`` and ``e2edl.cli``.
"""

import os as _os

__version__ = "0.1.0"

# Fair sharing of the CPU cores. PyTorch's Linux wheels use GNU OpenMP, whose idle threads spin
# for 300,000 iterations before they sleep: alone that saves a wake-up, but two torch processes on
# the same cores then burn each other's time, and each runs 10-18x slower instead of 2x. A short
# spin keeps one run alone as fast and two at once fair (benchmarks/thread_sharing.py measures it).
# It must be set before torch is first imported, which is why it lives here: import e2edl first.
# A value you set yourself (or OMP_WAIT_POLICY) wins.
if "OMP_WAIT_POLICY" not in _os.environ:
    _os.environ.setdefault("GOMP_SPINCOUNT", "3000")
