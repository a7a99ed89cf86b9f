"""Exercises that check themselves.

Each lesson ends with a few exercises: the learner writes the central piece of the lesson (a
backward function, softmax cross-entropy, an optimiser step...) in a cell tagged ``exercise``, and
the next cell calls ``check("NAME", their_function)``, which prints at once whether it is right and,
if not, a hint saying what is wrong. In a notebook ``check`` never raises: CI runs every notebook
top to bottom with the stubs untouched. From the command line, ``e2edl check LESSON`` runs the same
checks on the exercise cells of the learner's copy of the notebook and exits 1 if one fails.

A lesson's checks live in ``e2edl.exercises.<experiment module>`` as a list ``EXERCISES``; the
reference solutions live outside the package, in ``solutions/``, and the tests make sure every
solution passes and every untouched stub (and every typical mistake listed there) fails with its hint.
"""

from e2edl.exercises.checking import Hint
from e2edl.exercises.exercise import Exercise, Verdict, check, exercises_for, get_exercise

__all__ = ["Exercise", "Hint", "Verdict", "check", "exercises_for", "get_exercise"]
