"""Command line: `contrastlearn pretrain|evaluate|embed|export|report|augment|methods|datasets|
recipes`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from contrastlearn import __version__

QUICK = {"train.max_steps": 50, "data.limit": 2048, "eval.limit": 2000,
         "eval.few_label_seeds": [0]}
"""What `pretrain --quick` sets (anything given explicitly wins): a run of a minute or two
end to end on any dataset, to check a set-up before the real run."""


def _parse_set(values: list[str]) -> dict:
    overrides = {}
    for item in values:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE (e.g. train.lr=0.01), got {item!r}")
        key, value = item.split("=", 1)
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem", None) or type(error).__name__
            raise ValueError(f"--set {item!r}: the value is not valid YAML ({mark}); quote a "
                             "string, e.g. --set 'data.dataset=\"my file.npz\"'") from None
    return overrides


def _print_results(results, method_name: str) -> None:
    from contrastlearn.evaluation.table import comparison_table

    if results:
        print(comparison_table(results, encoder_label=f"{method_name} encoder"))
    else:
        print("no evaluation: the data has no labels or no test split")


def cmd_pretrain(args: argparse.Namespace) -> int:
    import torch

    from contrastlearn.api import pretrain
    from contrastlearn.core.distributed import rank

    overrides = {
        "train.epochs": args.epochs, "train.batch_size": args.batch_size, "train.lr": args.lr,
        "train.max_steps": args.max_steps, "train.accelerator": args.accelerator,
        "train.precision": args.precision, "train.devices": args.devices, "seed": args.seed,
        "train.strategy": args.strategy, "train.num_nodes": args.num_nodes,
        "data.options.encoding": args.encoding,
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if args.quick:
        overrides = {**QUICK, **overrides}
    overrides.update(_parse_set(args.set or []))
    print(f"contrastlearn {__version__} | torch {torch.__version__} | "
          f"{torch.get_num_threads()} threads", flush=True)
    run = pretrain(args.recipe, dataset=args.dataset, out=args.out, resume=args.resume,
                   overwrite=args.overwrite, overrides=overrides, progress=not args.no_progress)
    if rank() != 0:  # the other processes of a multi-process run: rank 0 reports
        return 0
    summary = run.training
    print(f"\nrecipe {run.recipe.name!r}: {run.recipe.method.name} on {run.recipe.data.dataset}, "
          f"{summary.steps} steps in {summary.seconds:.1f} s "
          f"({summary.samples_per_second:.0f} samples/s), final loss {summary.final_loss:.4f}")
    _print_results(run.results, run.recipe.method.name)
    print(f"\nrun directory: {run.run_dir} (results.json, metrics.jsonl, recipe.yaml, encoder/)")
    print(f"report: {run.run_dir / 'report.html'}")
    for warning in summary.warnings:
        print(f"warning: {warning}")
    return 0


def _read_pairs(path: Path, recipe) -> dict:
    """Evaluation pairs: a .npz of arrays, or a file the run's modality reads pairs from (text:
    a table of sentence1, sentence2, score in the run's text encoding)."""
    from contrastlearn.data.arrays import read_pairs_npz
    from contrastlearn.data.resolve import get_modality

    modality = get_modality(recipe.data.modality)
    if modality.read_pairs is not None and path.suffix.lower() != ".npz":
        return modality.read_pairs(path, modality.parse_options(recipe.data.options))
    return read_pairs_npz(path)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from contrastlearn.api import evaluate
    from contrastlearn.config import load_recipe
    from contrastlearn.engine.run_dir import require_run_dir

    for run_dir in args.run_dir:
        require_run_dir(run_dir, "evaluate")
    recipe = load_recipe(Path(args.run_dir[0]) / "recipe.yaml")
    data = args.dataset
    if args.pairs:
        data = _read_pairs(Path(args.pairs), recipe)
    protocols = args.protocol or (None if args.pairs else recipe.eval.protocols)
    if not args.pairs and "similarity" in (args.protocol or []):
        raise ValueError("--protocol similarity needs --pairs FILE (.npz with arrays a, b, "
                         "scores; for text also .csv/.tsv/.jsonl with sentence1, sentence2, "
                         "score)")
    runs = args.run_dir[0] if len(args.run_dir) == 1 else args.run_dir  # several: an ensemble
    results = evaluate(
        runs, data, protocols=protocols, strict=False,
        labels_per_class=args.labels_per_class or recipe.eval.labels_per_class,
        seeds=recipe.eval.few_label_seeds, raw_baseline=args.raw_baseline, save=False,
        balance=args.balance,
    )
    if args.output:
        from contrastlearn.evaluation import save_results

        save_results(results, Path(args.output))
    _print_results(results, recipe.method.name)
    return 0


def _print_missing_packages(caught: list) -> None:
    """Print each caught `MissingDependencyWarning` as a console warning (it names the
    package and its install command); show any other warning as Python would have."""
    import warnings

    from contrastlearn.report.html import MissingDependencyWarning

    for warning in caught:
        if issubclass(warning.category, MissingDependencyWarning):
            print(f"warning: {warning.message}")
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report, then name what it could not show for want of a package and what a
    reader of the run must not miss (the page alone would leave a console user unaware)."""
    import warnings

    from contrastlearn.report.html import MissingDependencyWarning, run_warnings, write_report

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MissingDependencyWarning)
        path = write_report(args.run_dir, embedding_map=args.map)
    print(f"wrote {path}")
    _print_missing_packages(caught)
    for warning in run_warnings(Path(args.run_dir)):
        print(f"warning: {warning}")
    return 0


def cmd_augment(args: argparse.Namespace) -> int:
    from contrastlearn.api import build_views, load_run_data, resolve_run_recipe
    from contrastlearn.data.resolve import get_modality
    from contrastlearn.report.preview import preview_samples, write_views_preview

    recipe_source = args.recipe
    if recipe_source is None and args.encoder:
        recipe_source = Path(args.encoder) / "recipe.yaml"  # the encoder's own recipe and data
    recipe = resolve_run_recipe(recipe_source, _parse_set(args.set or []))
    splits = load_run_data(recipe, args.dataset)
    sample_shape = tuple(preview_samples(splits.train, 1).shape[1:])
    if args.sweep:
        from contrastlearn.export import load_encoder
        from contrastlearn.sweep import DEFAULT_STRENGTHS, strength_sweep

        encoder = load_encoder(args.encoder, device=args.device) if args.encoder else None
        out = Path(args.out)
        rows = strength_sweep(recipe, splits, strengths=args.strengths or DEFAULT_STRENGTHS,
                              encoder=encoder, steps=args.steps, out=out, device=args.device,
                              progress=not args.no_progress)
        print("strength  positive similarity  linear probe top-1  kappa (sup)  kappa (mean)")
        for row in rows:
            print(f"{row['strength']:8.2f}  {row['positive_similarity']:19.4f}  "
                  f"{100 * row['linear_probe_top1']:17.2f}%  "
                  f"{row['augmentation_complexity']:11.3f}  "
                  f"{row['augmentation_complexity_mean']:12.3f}")
        print(f"wrote {out / 'sweep.png'} and {out / 'sweep.json'}")
        if args.encoder and out.resolve() == (Path(args.encoder) / "sweep").resolve():
            from contrastlearn.report.html import write_report

            print(f"wrote {write_report(args.encoder)} (with the sweep)")
        return 0
    views = build_views(recipe, sample_shape)
    samples = preview_samples(splits.train, args.num_samples, seed=args.seed)
    style = get_modality(recipe.data.modality).preview
    if callable(style):
        raise ValueError(f"the {recipe.data.modality} modality draws no picture of its views; "
                         "pretrain writes its preview to the run directory's plots/ folder")
    write_views_preview(views, samples, args.out, style=style, seed=args.seed)
    print(f"wrote {args.out}: {len(samples)} samples x {views.num_views} views")
    for line in views.describe():
        print(f"  {line}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from contrastlearn.api import embed

    embeddings = embed(args.run_dir, args.input, batch_size=args.batch_size,
                       encoding=args.encoding)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    np.save(output, embeddings.numpy())
    print(f"wrote {tuple(embeddings.shape)} embeddings to {output}")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from contrastlearn.api import recommend

    rows = recommend(args.run_dir, args.user, k=args.k, dataset=args.dataset)
    print(f"top {len(rows)} items for user {args.user} (items they have not interacted with):")
    for row in rows:
        print(f"{row['rank']:>4}. {row['item']:<12} {row['score']:9.4f}  {row['title']}".rstrip())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a run's encoder elsewhere: an ONNX graph or the project's safetensors export for
    any run, a sentence-transformers or transformers folder for a text run."""
    import shutil

    from contrastlearn.export import _encoder_folder, load_encoder, read_encoder_config

    source = _encoder_folder(args.run_dir)
    modality = read_encoder_config(source).get("modality")
    recipe_file = Path(args.run_dir) / "recipe.yaml"
    if modality is None and recipe_file.is_file():
        from contrastlearn.config import load_recipe

        modality = load_recipe(recipe_file).data.modality
    from contrastlearn.data.resolve import get_modality

    room_formats = dict(get_modality(modality).exporters) if modality else {}
    fmt = args.format or next(iter(room_formats), "onnx")
    if fmt not in ("onnx", "safetensors", *room_formats):
        raise ValueError(f"--format {fmt} does not fit {args.run_dir}, a {modality or 'custom'} "
                         f"run; its formats: {', '.join(['onnx', 'safetensors', *room_formats])}")
    if fmt == "safetensors":
        from contrastlearn.core.atomic import staged_folder

        with staged_folder(args.output, args.overwrite) as stage:
            shutil.copytree(source, stage, dirs_exist_ok=True)
        print(f"wrote the safetensors export (config.json, model.safetensors) to {args.output}")
        return 0
    if fmt == "onnx":
        try:
            from contrastlearn.onnx_export import OnnxExportError, export_run_onnx

            folder, metadata = export_run_onnx(args.run_dir, args.output, modality=modality,
                                               exporter=args.exporter, overwrite=args.overwrite)
        except ImportError as error:
            raise ValueError(f"ONNX export needs onnx, onnxscript and onnxruntime: pip install "
                             f"'contrastlearn[onnx]' ({error})") from None
        except OnnxExportError as error:
            raise ValueError(str(error)) from None
        axes = "; ".join(f"{name}: {', '.join(axis.values())} dynamic"
                         for name, axis in metadata["dynamic_axes"].items())
        print(f"wrote {folder / metadata['file']} ({metadata['exporter']} exporter; {axes}; "
              f"output embeddings: (batch, {metadata['out_dim']}))")
        return 0
    write = room_formats[fmt]
    try:
        folder = write(load_encoder(source), args.output, overwrite=args.overwrite)
    except TypeError as error:  # not a Hugging Face text encoder
        raise ValueError(str(error)) from None
    print(f"wrote a {fmt} folder to {folder}")
    return 0


def _terminal_width(minimum: int = 40) -> int:
    """Columns to wrap console text to: the terminal's (or $COLUMNS), one spare column so a
    full line never wraps on its own, and never less than `minimum`."""
    import shutil

    return max(minimum, shutil.get_terminal_size((100, 24)).columns - 1)


def _hanging(label: str, paragraphs: list[str], indent: int, width: int) -> str:
    """`label` then `paragraphs`, each wrapped to `width` and indented by `indent` columns,
    so every paragraph's lines line up after the label."""
    import textwrap

    lines = []
    for number, text in enumerate(paragraphs):
        first = label.ljust(indent) if number == 0 else " " * indent
        lines.append(textwrap.fill(text, width=width, initial_indent=first,
                                   subsequent_indent=" " * indent, break_long_words=False,
                                   break_on_hyphens=False))
    return "\n".join(lines)


def cmd_methods(args: argparse.Namespace) -> int:
    """Every method: its paper and what it does, each a whole sentence wrapped to the
    terminal (cut lines mid-sentence read as if the description were wrong)."""
    from contrastlearn.core.registry import METHOD_OPTIONS, METHODS
    from contrastlearn.core.sentences import first_sentence

    names = METHODS.names()
    indent = max(map(len, names + METHOD_OPTIONS.names())) + 2
    width = _terminal_width(indent + 30)
    blocks = []
    for name in names:
        method = METHODS.get(name)
        paper = first_sentence(sys.modules[method.__module__].__doc__ or "")
        blocks.append(_hanging(name, [text for text in (paper, METHODS.describe(name)) if text],
                               indent, width))
    options = METHOD_OPTIONS.names()
    if options:
        blocks.append("options (method.options in a recipe):")
        blocks += [_hanging(name, [METHOD_OPTIONS.describe(name)], indent, width)
                   for name in options]
    print("\n\n".join(blocks))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from contrastlearn.core.registry import DATASETS, MODALITIES

    for name, reason in MODALITIES.unavailable().items():
        print(f"{name} room not installed: {reason}")
    for name in DATASETS.names():
        factory = DATASETS.get(name)
        available, hint = getattr(factory, "available", lambda: (True, ""))()
        status = "available" if available else "missing  "
        print(f"{name:16s} {status}  {DATASETS.describe(name)}  [{hint}]")
    print("\nAny array dataset: --dataset path/to/data.npz (arrays x, optional y, x_test, y_test,"
          " groups)"
          "\nA folder of images: --dataset path/to/folder (one sub-folder per class, or flat)"
          "\nTime series: --dataset path/to/X_TRAIN.ts|.arff|.csv (X_TEST beside it is the test"
          " split; CSV: one series per row, optional label and group columns)"
          "\nGraphs: --dataset edges.csv|graph.pt|molecules.sdf|folder --set data.modality=graph"
          " (edge list with optional data.options.node_features/node_labels/node_texts files;"
          " PyG Data; SDF/SMILES molecules)")
    return 0


def cmd_recipes(args: argparse.Namespace) -> int:
    from contrastlearn.config import load_recipe, shipped_recipes

    for name in shipped_recipes():
        print(f"{name:28s} {load_recipe(name).description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from contrastlearn.config import PAIR_PROTOCOLS, PROTOCOLS

    parser = argparse.ArgumentParser(
        prog="contrastlearn",
        description="Contrastive self-supervised learning driven by data augmentation.",
    )
    parser.add_argument("--version", action="version", version=f"contrastlearn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    pre = commands.add_parser("pretrain", help="pre-train an encoder, then evaluate it")
    pre.add_argument("--recipe", help="shipped recipe name or path to a YAML recipe "
                     "(default: digits-simclr)")
    pre.add_argument("--dataset", help="registered dataset name, .npz file, image folder, "
                     "time-series file (.ts, .arff, .csv) or text file (.txt, .csv, .tsv, "
                     ".jsonl)")
    pre.add_argument("--encoding", help="text encoding of a text data file (default utf-8), "
                     "e.g. latin-1")
    pre.add_argument("--out", help="run directory (default: runs/<recipe>-<time>)")
    pre.add_argument("--epochs", type=int)
    pre.add_argument("--batch-size", type=int)
    pre.add_argument("--lr", type=float)
    pre.add_argument("--max-steps", type=int)
    pre.add_argument("--seed", type=int)
    pre.add_argument("--accelerator", help="auto, cpu, cuda, ...")
    pre.add_argument("--devices", type=int, help="processes per node (GPUs, or CPU processes "
                     "with gloo); batch-size stays the global batch")
    pre.add_argument("--strategy", help="Lightning Fabric strategy, e.g. ddp (default auto)")
    pre.add_argument("--num-nodes", type=int, help="machines in a torchrun / SLURM run")
    pre.add_argument("--precision", choices=["32-true", "bf16-mixed"])
    pre.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="any recipe key, e.g. --set method.kwargs.temperature=0.2")
    pre.add_argument("--resume", nargs="?", const="last", choices=["last", "previous"],
                     help="continue the run in --out from its last checkpoint (or from the "
                          "one before it: --resume previous)")
    pre.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    pre.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    pre.add_argument("--quick", action="store_true",
                     help="a quick run end to end: 50 steps on at most 2048 training items, "
                          "evaluated on at most 2000 train and 2000 test items (flags and "
                          "--set win)")
    pre.set_defaults(handler=cmd_pretrain)

    ev = commands.add_parser("evaluate", help="evaluate a run's exported encoder (several runs: "
                             "their embeddings concatenated, an ensemble)")
    ev.add_argument("run_dir", nargs="+")
    ev.add_argument("--balance", action="store_true",
                    help="several runs: rescale each to unit total variance on the train split "
                         "before concatenating (for runs of different recipes)")
    ev.add_argument("--dataset", help="data to evaluate on (default: the run's recipe data)")
    ev.add_argument("--protocol", action="append",
                    choices=[*PROTOCOLS, *(p for p in PAIR_PROTOCOLS if p not in PROTOCOLS)],
                    help="repeat for several; similarity (and explicit retrieval) need --pairs")
    ev.add_argument("--pairs", help=".npz with arrays a, b, scores (similarity) or queries, "
                    "gallery, query_ids, gallery_ids (retrieval); for a text run also a "
                    ".csv/.tsv/.jsonl with columns sentence1, sentence2, score")
    ev.add_argument("--labels-per-class", type=int, action="append")
    ev.add_argument("--raw-baseline", action="store_true")
    ev.add_argument("--output", help="also write the results to this JSON file")
    ev.set_defaults(handler=cmd_evaluate)

    em = commands.add_parser("embed", help="embed inputs with a run's encoder")
    em.add_argument("run_dir")
    em.add_argument("--input", required=True,
                    help=".npy array or .npz file with array x; for a text run also a .txt file "
                         "(one text per line) or a .csv/.tsv/.jsonl with a text column")
    em.add_argument("--output", required=True, help=".npy file to write")
    em.add_argument("--batch-size", type=int, default=512)
    em.add_argument("--encoding", help="text encoding of a text input file (default: the run's "
                    "data.options.encoding, else utf-8), e.g. latin-1")
    em.set_defaults(handler=cmd_embed)

    rec = commands.add_parser("recommend", help="a user's top items from a recommendation run")
    rec.add_argument("run_dir")
    rec.add_argument("--user", required=True, help="a user id as it appears in the data")
    rec.add_argument("--k", type=int, default=10, help="how many items (default 10)")
    rec.add_argument("--dataset", help="the run's interaction file again, for a run trained on "
                                       "in-memory data (default: the recipe's dataset)")
    rec.set_defaults(handler=cmd_recommend)

    ex = commands.add_parser(
        "export", help="write a run's encoder as an ONNX graph or safetensors (any run), or as "
                       "a sentence-transformers or transformers folder (text runs)")
    ex.add_argument("run_dir")
    ex.add_argument("--output", required=True, help="folder to write")
    ex.add_argument("--format",
                    help="onnx: model.onnx + onnx_config.json (+ the tokenizer for text); "
                         "safetensors: a copy of the run's encoder/ export; a room's own "
                         "formats (text: sentence-transformers, transformers); default: the "
                         "room's first own format, else onnx")
    ex.add_argument("--exporter", choices=("auto", "dynamo", "torchscript"), default="auto",
                    help="ONNX exporter (auto: torch.export-based dynamo, else TorchScript)")
    ex.add_argument("--overwrite", action="store_true", help="replace a non-empty folder")
    ex.set_defaults(handler=cmd_export)

    rep = commands.add_parser("report", help="(re)write a run's self-contained report.html")
    rep.add_argument("run_dir")
    rep.add_argument("--map", choices=["tsne", "umap", "pca"], default="tsne",
                     help="embedding map method (umap needs `pip install umap-learn`)")
    rep.set_defaults(handler=cmd_report)

    aug = commands.add_parser(
        "augment", help="preview a recipe's views (no training), or sweep their strength")
    aug.add_argument("--recipe", help="shipped recipe name or YAML path (default: the --encoder "
                     "run's recipe, else digits-simclr)")
    aug.add_argument("--dataset", help="dataset (default: the recipe's)")
    aug.add_argument("--out", required=True,
                     help="PNG file for the preview; a directory for --sweep")
    aug.add_argument("--num-samples", type=int, default=8)
    aug.add_argument("--seed", type=int, default=0)
    aug.add_argument("--set", action="append", metavar="KEY=VALUE", help="recipe override")
    aug.add_argument("--sweep", action="store_true",
                     help="measure positive similarity, probe accuracy and the augmentation "
                     "complexity kappa at several strengths (--out RUN/sweep with --encoder RUN "
                     "adds it to RUN's report.html)")
    aug.add_argument("--strengths", type=float, nargs="+", help="default 0 0.25 0.5 0.75 1")
    aug.add_argument("--steps", type=int, default=100,
                     help="training steps per strength (without --encoder)")
    aug.add_argument("--encoder", help="run directory of a trained encoder to evaluate frozen "
                     "instead of training at each strength")
    aug.add_argument("--device", default="cpu",
                     help="where a frozen --encoder runs (training uses the recipe's accelerator)")
    aug.add_argument("--no-progress", action="store_true")
    aug.set_defaults(handler=cmd_augment)

    commands.add_parser("methods", help="list methods and their options") \
        .set_defaults(handler=cmd_methods)
    commands.add_parser("datasets", help="list datasets and whether they are installed") \
        .set_defaults(handler=cmd_datasets)
    commands.add_parser("recipes", help="list shipped recipes").set_defaults(handler=cmd_recipes)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; every expected failure is one line on stderr (exit 2), Ctrl-C says
    where training stopped and how to continue (exit 130), never a traceback."""
    from safetensors import SafetensorError

    from contrastlearn.engine.run_dir import RunDirectoryInUse
    from contrastlearn.engine.trainer import TrainingDiverged, TrainingInterrupted

    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except TrainingInterrupted as stop:
        print(f"\n{stop.args[0]}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted (nothing was trained yet, or training had finished)",
              file=sys.stderr)
        return 130
    except (ValueError, KeyError, OSError, SafetensorError, yaml.YAMLError, RunDirectoryInUse,
            TrainingDiverged) as error:  # RecipeError, DataError, CheckpointError included
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        if isinstance(error, OSError) and not isinstance(error, FileExistsError) \
                and error.filename and error.strerror:
            message = f"{error.strerror}: {error.filename}"
        print(f"error: {message or type(error).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
