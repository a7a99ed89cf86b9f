"""The training recipe each lesson is about, as library code a notebook shows and calls.

One module per lesson (named like its experiment): a frozen ``@dataclass`` of the recipe's settings
and a function that builds the model, the optimiser and the schedule and calls ``e2edl.train.fit``.
The notebook prints the function's source, trains with it in the open (and may change the settings
with ``dataclasses.replace``); the lesson's experiment calls the very same function, and with
``resume=True`` reuses the model the notebook already trained. Recipes import the ground floor only.
"""
