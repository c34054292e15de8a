"""The errors the scripts report as one line instead of a traceback (:func:`engine.cli.run_cli` does it).

Every problem with what the user gave (a file, a row, a flag, a checkpoint) is an :class:`InputError` (or a
``FileNotFoundError`` whose message names the file); the scripts' ``__main__`` runs :func:`engine.cli.run_cli`, which
prints ``error: <message>`` on stderr and exits with a status that says what happened:

* 2 - bad input (the same status argparse uses for bad flags);
* 3 - training stopped on a non-finite loss (the last good checkpoint is kept);
* 128 + signal number (130 for SIGINT, 143 for SIGTERM) - interrupted; a resumable checkpoint was saved.
"""
from __future__ import annotations


EXIT_BAD_INPUT = 2
EXIT_NON_FINITE = 3


class InputError(ValueError):
    """A file, row, split or checkpoint that cannot be used; the message names it and says what is wrong."""


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the epoch, the step and the loss terms."""


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped a run after a resumable checkpoint was written."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum


def clean_message(error: BaseException) -> str:
    """The error's own message; one raised in a DataLoader worker carries the worker's traceback, which is cut."""
    message = str(error)
    if "Original Traceback" in message:
        last = [line for line in message.strip().splitlines() if line.strip()][-1]
        message = last.split(": ", 1)[1] if ": " in last and last.split(": ", 1)[0].replace(".", "").isidentifier() \
            else last
    if isinstance(error, KeyError):  # KeyError quotes its message
        message = message.strip("'\"")
    return message
