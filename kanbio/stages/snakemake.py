"""Glue for Snakemake ``script:`` rules: log to the rule's log file, one-line errors, exit 1.

Errors are reported as by the ``kanbio`` command (:func:`kanbio.cli.main`): a user error
(:class:`InputError`) or a system failure (OSError, MemoryError) is one line
``kanbio: error: ...`` in the rule's log and on the terminal, and the job fails (exit status 1;
Snakemake reports the rule and its log).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from typing import Any

from kanbio.errors import InputError, one_line


def run(smk: Any, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``func(*args, **kwargs)`` with stderr going to the rule's log.

    Bad input is written as one line to the log and to the terminal, and the job fails.
    """
    log_path = smk.log[0] if smk.log else None
    with open(log_path, "w") if log_path else contextlib.nullcontext(sys.stderr) as log:
        handler = logging.StreamHandler(log)
        logging.getLogger("kanbio").addHandler(handler)
        logging.getLogger("kanbio").setLevel(logging.INFO)
        try:
            with contextlib.redirect_stderr(log):
                return func(*args, **kwargs)
        except (InputError, OSError, MemoryError) as err:
            line = f"kanbio: error: {one_line(err)}"
            print(line, file=log)
            if log is not sys.__stderr__:
                print(line, file=sys.__stderr__)
            raise SystemExit(1) from None
        finally:
            logging.getLogger("kanbio").removeHandler(handler)
