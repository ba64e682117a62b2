"""The ``kanbio`` command line: one sub-command per pipeline stage.

Each command is implemented by a module with ``add_arguments(parser)`` and ``run(args)``; only
the module of the command being run is imported, so ``kanbio --version`` and ``kanbio --help``
stay instant. Bad input ends with one line on stderr (``kanbio: error: <file>: record '<id>':
<problem>``) and exit status 2; nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kanbio import __version__
from kanbio.errors import InputError, one_line

#: command -> (help, module implementing it[, suffix of its ``add_arguments`` / ``run``])
COMMANDS: dict[str, tuple[str, ...]] = {
    "fetch": ("download (or copy from a mirror) a published dataset, checked by sha256",
              "kanbio.stages.fetch"),
    "synthetic": ("write a synthetic proteome with planted motifs", "kanbio.data.synthetic"),
    "prepare": ("FASTA + sites -> split windows table (windows.tsv.gz, summary.json)",
                "kanbio.stages.prepare"),
    "search": ("a model's hyperparameter grid scored on the validation split",
               "kanbio.stages.search"),
    "train": ("train a KAN, MLP, CNN or logistic model on the train split",
              "kanbio.stages.train"),
    "evaluate": ("test metrics with CIs (threshold chosen on validation)",
                 "kanbio.stages.evaluate"),
    "explain": ("attributions, symbolic formula and motif check of a checkpoint",
                "kanbio.stages.explain"),
    "predict": ("score every candidate residue of new FASTA files with a checkpoint",
                "kanbio.stages.predict"),
    "report": ("accuracy table and summary of one dataset from evaluated checkpoints",
               "kanbio.stages.report"),
    "figures": ("ROC, PR and training-curve figures of one dataset (PNG + PDF)",
                "kanbio.stages.report", "_figures"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; the options of ``command`` (all commands when None) are filled in."""
    parser = argparse.ArgumentParser(prog="kanbio", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kanbio {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, module, *suffix) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command in (None, name):
            impl, end = importlib.import_module(module), "".join(suffix)
            getattr(impl, f"add_arguments{end}")(p)
            p.set_defaults(func=getattr(impl, "run" + (end or "")))
    return parser


def _system_error(err: BaseException) -> str:
    """One line for an OSError: the path it concerns (for a rename, the destination) and the
    system's reason; other errors as they are."""
    if isinstance(err, OSError) and err.strerror and (err.filename2 or err.filename):
        name = err.filename2 or err.filename
        if isinstance(err, FileExistsError):
            return f"{name}: exists and is not a folder (an output folder was expected)"
        return f"{name}: {err.strerror.lower()}"
    return one_line(err)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kanbio`` console script.

    A user error (:class:`InputError`) ends with one line ``kanbio: error: ...`` and status 2
    (as argparse's own usage errors); a failure of the system (an OSError such as a full disk,
    MemoryError) with one line and status 1.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), "")
    args = build_parser(command if command in COMMANDS else "").parse_args(argv)
    try:
        args.func(args)
        return 0
    except InputError as err:
        print(f"kanbio: error: {one_line(err)}", file=sys.stderr)
        return 2
    except (OSError, MemoryError) as err:
        print(f"kanbio: error: {_system_error(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kanbio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
