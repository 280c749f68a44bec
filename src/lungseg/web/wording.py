"""The library's messages in the web form's words: its command-line options become the form's choices
("use --model xray-lung (or auto)" -> choose the model "xray-lung" (or "auto") on the upload form). Used for
refusals, job errors (``results.scrub``) and, as the ``plain`` template filter, for findings on pages."""

from __future__ import annotations

import re

# command-line wording in the library's messages, as the web form says it (the form has no options)
PLAIN_WORDS = (
    (re.compile(r"use --model ([\w-]+) \(or auto\)"), r'choose the model "\1" (or "auto") on the upload form'),
    (
        re.compile(r"use a CT model \(([\w-]+)\) or --model auto"),
        r'choose a CT model ("\1") or "auto" on the upload form',
    ),
    (re.compile(r"--model ([\w-]+)"), r'the model "\1"'),
    (re.compile(r"--lesions ([\w-]+)"), r'the lesion model "\1"'),
    (re.compile(r"--interval-days"), "the interval in days"),
)


def plain(message: str) -> str:
    """``message`` with the command line's options put as the web form's choices."""
    for pattern, words in PLAIN_WORDS:
        message = pattern.sub(words, message)
    return message
