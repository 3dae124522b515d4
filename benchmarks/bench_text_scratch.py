"""Text, benchmark 2: a small Transformer trained from scratch with unsupervised SimCSE on
WordNet's unlabeled glosses and example sentences (recipe `simcse-scratch`) against a TF-IDF
baseline on the same held-out example->gloss retrieval (MRR, Recall@1/10). TF-IDF's vocabulary
and IDF come from the same unlabeled training texts the Transformer sees.

Every row also carries `validation_mrr`: the same retrieval on other synsets (those the next
seed holds out, minus this seed's test synsets). Training never sees which example belongs to
which gloss, so it is a fair score for choosing the view policy; the test synsets play no part.

    python benchmarks/bench_text_scratch.py --steps 2000
    python benchmarks/bench_text_scratch.py --steps 500 --set views.name=deletion_views
    python benchmarks/bench_text_scratch.py --smoke   # 2 steps on 300 texts, 40 test synsets
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml
from result_rows import add_smoke_option, keep_row, smoke_folder, without_run_reports
from sklearn.feature_extraction.text import TfidfVectorizer

import contrastlearn
from contrastlearn.api import build_encoder, load_run_data, resolve_run_recipe
from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DatasetSplits
from contrastlearn.evaluation.retrieval import retrieval_metrics
from contrastlearn.modalities.text.data import RetrievalSet
from contrastlearn.modalities.text.pipeline import TokenizedRetrieval

KS = (1, 10)


def retrieval_scores(results: list) -> dict:
    return {result.metric: result.value for result in results
            if result.protocol == "retrieval" and result.metric in ("mrr", "recall@1",
                                                                    "recall@10")}


def wordnet(seed: int, size: dict | None = None) -> DatasetSplits:
    """The `wordnet` dataset split by `seed`; `size` (test_synsets, max_train_texts) shrinks it
    for quick checks, default: the dataset's own sizes, as the recipe reads it."""
    return DATASETS.build("wordnet", holdout_fraction=0.2, seed=seed, **(size or {}))


def validation_set(seed: int, size: dict | None = None) -> RetrievalSet:
    """The next seed's held-out synsets minus this seed's test synsets."""
    test = wordnet(seed, size).extras["retrieval"]
    other = wordnet(seed + 1, size).extras["retrieval"]
    excluded = set(test.documents)
    kept = [index for index, document in enumerate(other.documents) if document not in excluded]
    position = {index: new for new, index in enumerate(kept)}
    pairs = [(query, position[int(target)]) for query, target in
             zip(other.queries, other.query_targets) if int(target) in position]
    return RetrievalSet([query for query, _ in pairs], [other.documents[i] for i in kept],
                        torch.tensor([target for _, target in pairs]))


def tfidf(seed: int, validation: RetrievalSet, size: dict | None = None) -> dict:
    splits = wordnet(seed, size)
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(splits.train.texts)

    def score(retrieval: RetrievalSet) -> dict:
        def vectors(texts: list[str]) -> torch.Tensor:
            return torch.tensor(vectorizer.transform(texts).toarray(), dtype=torch.float32)

        return retrieval_scores(retrieval_metrics(
            vectors(retrieval.queries), vectors(retrieval.documents), retrieval.query_targets,
            torch.arange(len(retrieval.documents)), ks=KS))

    return {"model": "TF-IDF (sublinear tf, fitted on the training texts)",
            **score(splits.extras["retrieval"]), "validation_mrr": score(validation)["mrr"],
            "train_seconds": 0.0, "steps": 0}


def held_out_scores(encoder: torch.nn.Module, retrieval: RetrievalSet) -> dict:
    """Retrieval scores of `encoder` on `retrieval`, tokenized by its own tokenizer."""
    tokenizer = encoder.tokenizer
    held = TokenizedRetrieval(tokenizer(retrieval.queries), tokenizer(retrieval.documents),
                              retrieval.query_targets, "held-out")
    return retrieval_scores(held.evaluate(encoder))


def untrained(seed: int, overrides: dict, validation: RetrievalSet,
              size: dict | None = None) -> dict:
    """The recipe's encoder as built (vocabulary and token frequencies from the training
    texts, random weights), before any training: what SimCSE adds is the difference."""
    recipe = resolve_run_recipe("simcse-scratch", {**overrides, "seed": seed})
    torch.manual_seed(seed)
    encoder, _ = build_encoder(recipe, wordnet(seed, size) if size else load_run_data(recipe))
    test = wordnet(seed, size).extras["retrieval"]
    encoder.eval()
    return {"model": "the same from-scratch Transformer, untrained", "overrides": overrides,
            **held_out_scores(encoder, test),
            "validation_mrr": held_out_scores(encoder, validation)["mrr"],
            "train_seconds": 0.0, "steps": 0}


def scratch(seed: int, steps: int | None, runs: Path, overrides: dict,
            validation: RetrievalSet, size: dict | None = None) -> dict:
    overrides = {**overrides, "seed": seed, "eval.protocols": ["linear_probe"]}
    if steps is not None:
        overrides["train.steps"] = steps
    result = contrastlearn.pretrain("simcse-scratch", dataset=wordnet(seed, size) if size else None,
                                    out=runs / f"simcse-scratch-seed{seed}", overwrite=True,
                                    overrides=overrides, progress=False)
    validation_mrr = held_out_scores(result.encoder, validation)["mrr"]
    probe = result.result("linear_probe").value
    views = result.recipe.views
    return {"model": f"from-scratch Transformer, SimCSE (recipe simcse-scratch), views "
                     f"{views.name} {views.kwargs or ''}".strip(),
            "overrides": overrides, **retrieval_scores(result.results),
            "validation_mrr": validation_mrr, "lexname_probe": probe,
            "train_seconds": result.training.seconds, "steps": result.training.steps,
            "batch_size": result.recipe.train.batch_size, "lr": result.recipe.train.lr}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, help="override the recipe's training steps")
    parser.add_argument("--runs", default="runs/bench-text-scratch")
    parser.add_argument("--out", default="benchmarks/results/text_scratch.jsonl")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe override, e.g. views.name=deletion_views")
    parser.add_argument("--skip-tfidf", action="store_true")
    parser.add_argument("--test-synsets", type=int, help="fewer held-out synsets (quick checks)")
    parser.add_argument("--max-train-texts", type=int, help="fewer training texts (quick checks)")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.test_synsets, args.max_train_texts = 2, 40, 300
        folder = smoke_folder()
        args.runs, args.out = str(folder / "runs"), str(folder / "text_scratch.jsonl")
        without_run_reports()
    size = {key: value for key, value in (("test_synsets", args.test_synsets),
                                          ("max_train_texts", args.max_train_texts))
            if value is not None}
    overrides = {key: yaml.safe_load(value)
                 for key, value in (item.split("=", 1) for item in args.set)}
    validation = validation_set(args.seed, size)
    out = Path(args.out)
    rows = []
    measured = [] if args.skip_tfidf else [tfidf(args.seed, validation, size)]
    measured.append(untrained(args.seed, overrides, validation, size))
    measured.append(scratch(args.seed, args.steps, Path(args.runs), overrides, validation, size))
    for row in measured:
        rows.append(keep_row(out, {**row, "seed": args.seed, **size}))
    print("\n| model | test MRR | Recall@1 | Recall@10 | validation MRR | steps | train s |\n"
          "|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['model']} | {row['mrr']:.3f} | {row['recall@1']:.3f} | "
              f"{row['recall@10']:.3f} | {row['validation_mrr']:.3f} | {row['steps']} | "
              f"{row['train_seconds']:.0f} |")


if __name__ == "__main__":
    main()
