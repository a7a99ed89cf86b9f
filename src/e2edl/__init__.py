"""e2edl — Deep Learning from End to End: the course's companion library.

Ground floor (import nothing above them): ``e2edl.data``, ``e2edl.autograd``, ``e2edl.nn``,
``e2edl.train``. On top: ``e2edl.lessons`` (registry + experiments) and ``e2edl.cli``.
"""

__version__ = "0.1.0"
