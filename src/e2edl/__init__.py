"""e2edl — Deep Learning from End to End: the course's companion library.

Ground floor (import nothing above them): ``e2edl.data``, ``e2edl.autograd``, ``e2edl.nn``,
``e2edl.train``, with ``e2edl.figures`` and ``e2edl.atomic``. On top: ``e2edl.recipes`` (the training
recipe each lesson is about), ``e2edl.experiments`` (one thin module per lesson: ``run(cfg)``),
``e2edl.course`` (registry, runner, claims, report), ``e2edl.exercises`` and ``e2edl.cli``.
"""

from e2edl import runtime as _runtime

__version__ = "0.1.0"

_runtime.share_cores_fairly()  # before torch is imported: see e2edl/runtime.py
_runtime.keep_large_buffers()
