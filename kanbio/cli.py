"""The ``kanbio`` command line: one sub-command per pipeline stage.

Bad input ends with one line on stderr (``kanbio: error: <file>: record '<id>': <problem>``) and
exit status 2; nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from kanbio import __version__
from kanbio.config import BOOTSTRAP
from kanbio.errors import InputError

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable]] = {}


def command(name: str, help: str):
    """Register ``add_arguments`` for a sub-command; the decorated function runs it."""

    def wrap(add_arguments: Callable[[argparse.ArgumentParser], None]):
        def register(run: Callable[[argparse.Namespace], int | None]):
            COMMANDS[name] = (help, add_arguments, run)
            return run

        return register

    return wrap


# ------------------------------------------------------------------------------------- prepare


def _prepare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config (with --dataset)")
    p.add_argument("--dataset", help="dataset name in the config")
    p.add_argument("--fasta", nargs="+", help="FASTA file(s), '#'-marked or with --sites")
    p.add_argument("--sites", nargs="+", help="site table(s): protein_id, position[, label]")
    p.add_argument("--positives", nargs="+", help="pre-cut positive window FASTA(s)")
    p.add_argument("--negatives", nargs="+", help="pre-cut negative window FASTA(s)")
    p.add_argument("--test-fasta", nargs="+", help="FASTA(s) of a predefined test set")
    p.add_argument("--test-sites", nargs="+")
    p.add_argument("--test-positives", nargs="+")
    p.add_argument("--test-negatives", nargs="+")
    p.add_argument("--residues", help="candidate residues, e.g. ST or K")
    p.add_argument("--half-width", type=int, help="window half width h (length 2h+1; default 16)")
    p.add_argument("--split", choices=["protein", "homology"], help="split method")
    p.add_argument("--identity", type=float, help="MMseqs2 identity threshold (homology split)")
    p.add_argument("--seed", type=int, help="split seed")
    p.add_argument("--strict", action="store_true", help="any bad record is fatal")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, help="output folder")


@command("prepare", "FASTA + sites -> split windows table (windows.tsv.gz, summary.json)")(
    _prepare_args)
def run_prepare(args: argparse.Namespace) -> int:
    from kanbio import config as cfg
    from kanbio.stages.prepare import prepare

    flags = {k: getattr(args, k) for k in ("fasta", "sites", "positives", "negatives",
                                           "test_fasta", "test_sites", "test_positives",
                                           "test_negatives", "residues", "half_width")}
    flags = {k: v for k, v in flags.items() if v is not None}
    if args.config:
        config = cfg.load(args.config)
        if not args.dataset:
            raise InputError("--dataset is required with --config", path=args.config)
        cfg.dataset(config, args.dataset, args.config)  # a clear error for an unknown name
        config["datasets"][args.dataset].update(flags)
    else:
        if "residues" not in flags:
            raise InputError("--residues is required without --config")
        config = {"datasets": {args.dataset or "dataset": flags}}
        args.dataset = args.dataset or "dataset"
    if args.strict:
        config["datasets"][args.dataset]["strict"] = True
    split = {k: v for k, v in (("method", args.split), ("identity", args.identity),
                               ("seed", args.seed)) if v is not None}
    if split:
        config["datasets"][args.dataset]["split"] = {
            **config["datasets"][args.dataset].get("split", {}), **split}
    cfg.validate(config, args.config or "command line")
    ds = cfg.dataset(config, args.dataset, args.config or "command line")
    summary = prepare(ds, args.out, args.dataset, threads=args.threads)
    dropped = ", ".join(f"{k} {v}" for k, v in summary["dropped"].items()) or "none"
    print(f"{args.dataset}: {summary['proteins']} proteins, {summary['candidates']} candidates "
          f"({summary['positives']} positive, {summary['negatives']} negative); dropped: "
          f"{dropped}; written to {args.out}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------ synthetic


def _synthetic_args(p: argparse.ArgumentParser) -> None:
    from kanbio.data import synthetic

    synthetic.add_arguments(p)


@command("synthetic", "write a synthetic proteome with planted motifs")(_synthetic_args)
def run_synthetic(args: argparse.Namespace) -> int:
    from kanbio.data import synthetic

    synthetic.run(args)
    return 0


# --------------------------------------------------------------------------------------- train


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--windows", required=True, help="windows.tsv.gz from 'kanbio prepare'")
    p.add_argument("--model", required=True, choices=["kan", "mlp", "linear"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--spec", help="YAML/JSON file with the full model spec (overrides the flags)")
    p.add_argument("--hidden", type=int, nargs="+", help="hidden widths (default: the KAN "
                   "default width for both KAN and MLP, so that they match in effective "
                   "parameters)")
    p.add_argument("--first-layer", choices=["table", "spline"],
                   help="KAN first layer on one-hot windows (default: the schema's, table)")
    p.add_argument("--out-dim", type=int, choices=[1, 2], default=1, help="1 logit or 2 logits")
    p.add_argument("--grid", type=int, default=5, help="KAN grid intervals G")
    p.add_argument("--k", type=int, default=3, help="KAN spline order")
    p.add_argument("--optimizer", choices=["adam", "lbfgs"], default="adam")
    p.add_argument("--epochs", type=int, default=60, help="Adam epochs or LBFGS steps")
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lamb", type=float, default=0.0, help="KAN sparsity regularisation")
    p.add_argument("--balance", choices=["weight", "subsample", "none"], default="weight")
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--monitor", choices=["auroc", "loss"],
                   help="validation score for early stopping (default: the schema's, auroc)")
    p.add_argument("--l2", type=float, help="L2 on the first-layer table in units of 1/C of "
                   "logistic regression (default 0)")
    p.add_argument("--device", default="auto")
    p.add_argument("--C", type=float, default=1.0, help="logistic regression inverse penalty")


@command("train", "train a KAN, MLP or logistic model on the train split")(_train_args)
def run_train(args: argparse.Namespace) -> int:
    from kanbio.models.factory import DEFAULT_HIDDEN
    from kanbio.stages.train import train_table

    if args.spec:
        import yaml

        with open(args.spec) as fh:
            spec = yaml.safe_load(fh)
    else:
        spec = {"type": args.model, "out": args.out_dim}
        if args.model == "linear":
            spec["C"] = args.C
        else:
            spec["hidden"] = args.hidden or DEFAULT_HIDDEN["kan"]
            if args.model == "kan":
                spec.update(grid=args.grid, k=args.k)
                if args.first_layer:
                    spec["first_layer"] = args.first_layer
            spec["train"] = {"optimizer": args.optimizer, "epochs": args.epochs, "lr": args.lr,
                             "batch_size": args.batch_size, "lamb": args.lamb,
                             "balance": args.balance, "patience": args.patience,
                             "device": args.device}
            spec["train"].update({k: v for k, v in (("monitor", args.monitor), ("l2", args.l2))
                                  if v is not None})
    meta = train_table(args.windows, spec, args.seed, args.out)
    print(f"{meta['spec']['type']} seed {args.seed}: {meta['n_params']} parameters "
          f"({meta['n_params_effective']} effective on one-hot windows), "
          f"{meta['train_seconds']} s, best epoch {meta['best_epoch']}; written to {args.out}",
          file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------ evaluate


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="checkpoint folder")
    p.add_argument("--windows", required=True, help="windows table with val and test splits")
    p.add_argument("--out", required=True, help="metrics.json path")
    p.add_argument("--bootstrap", type=int, default=BOOTSTRAP, help="bootstrap resamples for CIs")


@command("evaluate", "test metrics with CIs (threshold chosen on validation)")(_evaluate_args)
def run_evaluate(args: argparse.Namespace) -> int:
    from kanbio.stages.evaluate import evaluate

    res = evaluate(args.model, args.windows, args.out, n_boot=args.bootstrap)
    t = res["test"]
    print(f"test AUROC {t['auroc']:.4f}, AUPRC {t['auprc']:.4f}, MCC {t['mcc']:.4f} "
          f"(threshold {res['threshold']:.4g} from {res['threshold_source']})", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------- explain


def _explain_args(p: argparse.ArgumentParser) -> None:
    from kanbio.stages import explain

    explain.add_arguments(p)


@command("explain", "attributions, symbolic formula and motif check of a checkpoint")(
    _explain_args)
def run_explain(args: argparse.Namespace) -> int:
    from kanbio.stages import explain

    return explain.run(args) or 0


# ------------------------------------------------------------------------------------- predict


def _predict_args(p: argparse.ArgumentParser) -> None:
    from kanbio.stages import predict

    predict.add_arguments(p)


@command("predict", "score every candidate residue of new FASTA files with a checkpoint")(
    _predict_args)
def run_predict(args: argparse.Namespace) -> int:
    from kanbio.stages import predict

    return predict.run(args) or 0


# ---------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kanbio", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kanbio {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(func=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kanbio`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"kanbio: error: {err}", file=sys.stderr)
        return 2
    except (OSError, MemoryError) as err:
        print(f"kanbio: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kanbio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
