"""Text, benchmark 4: what adapting all-MiniLM-L6-v2 to WordNet costs on text it never trains
on, for plain SimCSE fine-tuning (`simcse`), LoRA (`simcse-lora`) and the L2-SP forgetting
guard (`simcse-guard`), against the untouched model.

The three recipes train on the same split with the same seed and the same number of steps;
each exported encoder (LoRA's with its adapters merged) and the untouched MiniLM are then
scored on:

- in domain, what the WordNet recipes train for: each held-out example sentence retrieves its
  own synset's gloss among the 2,000 held-out glosses (MRR, Recall@1), at the recipes'
  max_length of 32 tokens;
- word level: SimLex-999 (Hill, Reichart & Korhonen 2015) and WordSim-353 (Finkelstein et al.
  2002), word pairs with human similarity ratings (the copies gensim ships); each word is
  embedded as a one-word sentence; Spearman and Pearson of cosine against the ratings;
- general (no recipe trains on it): the Lee document-similarity set (Lee, Pincombe & Welsh
  2005): 50 short ABC news articles (gensim's lee.cor), every one of the 1,225 pairs rated
  by students, the mean rating scaled to [0, 1] (gensim's similarities0-1.txt, the upper
  triangle). Pearson and Spearman of cosine against the ratings, embedding each article as the
  exported encoder does (its first 32 tokens) and whole (256 tokens, MiniLM's own length,
  the same weights; no article is longer); the change of Pearson against the untouched
  model comes with a 95% bootstrap interval (the 50 articles resampled with replacement,
  2,000 draws). The articles are news, not dictionary text, none of them is in
  `lee_background` (the 300-article corpus the `lee_background` dataset reads), and no
  shipped recipe reads either.

Prints the settings, one JSON row per model (also appended to --out) and two markdown tables.

    python benchmarks/bench_forgetting.py                 # 100 steps each, the recipes' own
    python benchmarks/bench_forgetting.py --steps 50
    python benchmarks/bench_forgetting.py --smoke         # 1 step, tiny data, few pairs
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from result_rows import (
    add_smoke_option,
    keep_row,
    machine_context,
    smoke_folder,
    without_run_reports,
)

import contrastlearn
from contrastlearn.core.registry import DATASETS
from contrastlearn.evaluation import retrieval_metrics, similarity_correlation
from contrastlearn.modalities.text.encoders import hf_text_encoder

UNTOUCHED = "MiniLM (untouched)"
RECIPES = ("simcse", "simcse-lora", "simcse-guard")
SHORT, LONG = 32, 256
"""Token lengths: the recipes' max_length, and MiniLM's own for whole documents."""
WORD_SETS = {"simlex999": "simlex999.txt", "wordsim353": "wordsim353.tsv"}
BATCH = 64
BOOTSTRAP_DRAWS = 2000


def gensim_file(name: str) -> Path:
    from gensim.test.utils import datapath

    return Path(datapath(name))


def lee_set(limit: int | None = None) -> tuple[list[str], torch.Tensor]:
    """The Lee articles and the symmetric (N, N) matrix of their mean human ratings in [0, 1]
    (the file holds the upper triangle)."""
    documents = gensim_file("lee.cor").read_text(encoding="latin-1").splitlines()
    rows = [[float(value) for value in line.split()]
            for line in gensim_file("similarities0-1.txt").read_text().splitlines()]
    ratings = torch.tensor(rows, dtype=torch.float64)
    if ratings.shape != (len(documents), len(documents)):
        raise ValueError(f"the Lee ratings are not a {len(documents)} x {len(documents)} matrix")
    ratings = ratings.triu(1) + ratings.triu(1).T
    count = len(documents) if limit is None else limit
    return documents[:count], ratings[:count, :count]


def lee_scores(encoder: torch.nn.Module, documents: list[str], ratings: torch.Tensor
               ) -> tuple[dict[str, float], torch.Tensor]:
    """Pearson and Spearman over every pair of articles, and the (N, N) cosine matrix."""
    embeddings = embed(encoder, documents)
    first, second = torch.triu_indices(len(documents), len(documents), offset=1)
    results = similarity_correlation(embeddings[first], embeddings[second],
                                     ratings[first, second])
    unit = torch.nn.functional.normalize(embeddings.double(), dim=1)
    return {result.metric: result.value for result in results}, unit @ unit.T


def pearson_change_interval(cosine: torch.Tensor, base: torch.Tensor, ratings: torch.Tensor,
                            draws: int = BOOTSTRAP_DRAWS) -> tuple[float, float]:
    """95% bootstrap interval of Pearson(cosine) - Pearson(base) against the ratings, the
    articles resampled with replacement (every pair of two distinct drawn articles counts)."""
    generator = torch.Generator().manual_seed(0)
    first, second = torch.triu_indices(len(ratings), len(ratings), offset=1)
    changes = []
    for _ in range(draws):
        drawn = torch.randint(len(ratings), (len(ratings),), generator=generator)
        a, b = drawn[first], drawn[second]
        a, b = a[a != b], b[a != b]
        human = ratings[a, b]
        changes.append(float(torch.corrcoef(torch.stack([cosine[a, b], human]))[0, 1]
                             - torch.corrcoef(torch.stack([base[a, b], human]))[0, 1]))
    quantiles = torch.tensor([0.025, 0.975], dtype=torch.float64)
    low, high = torch.tensor(changes, dtype=torch.float64).quantile(quantiles).tolist()
    return low, high


def word_pairs(name: str, limit: int | None = None) -> tuple[list[str], list[str], list[float]]:
    """(first words, second words, ratings) of a gensim word-similarity file."""
    first, second, scores = [], [], []
    for line in gensim_file(WORD_SETS[name]).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        a, b, score = line.split("\t")[:3]
        first.append(a.strip())
        second.append(b.strip())
        scores.append(float(score))
    return first[:limit], second[:limit], scores[:limit]


def embed(encoder: torch.nn.Module, texts: list[str]) -> torch.Tensor:
    return contrastlearn.embed(encoder, texts, batch_size=BATCH, modality="text")


def correlations(encoder: torch.nn.Module, first: list[str], second: list[str],
                 scores: list[float]) -> dict[str, float]:
    """Pearson and Spearman of cos(first[i], second[i]) against scores[i]; every distinct text
    is embedded once."""
    texts = sorted(set(first) | set(second))
    row = {text: index for index, text in enumerate(texts)}
    embeddings = embed(encoder, texts)
    results = similarity_correlation(embeddings[[row[text] for text in first]],
                                     embeddings[[row[text] for text in second]],
                                     torch.tensor(scores))
    return {result.metric: result.value for result in results}


def wordnet_retrieval(encoder: torch.nn.Module, retrieval) -> dict[str, float]:
    queries, documents = embed(encoder, retrieval.queries), embed(encoder, retrieval.documents)
    results = retrieval_metrics(queries, documents, retrieval.query_targets,
                                torch.arange(len(documents)), ks=(1, 10))
    return {result.metric: result.value for result in results}


def with_length(encoder: torch.nn.Module, max_length: int) -> torch.nn.Module:
    """A plain MiniLM reading `max_length` tokens with `encoder`'s weights."""
    longer = hf_text_encoder(max_length=max_length, progress=False)
    longer.load_state_dict(encoder.state_dict())
    return longer.eval()


def relative_drift(encoder: torch.nn.Module, start: dict[str, torch.Tensor]) -> float:
    """||theta - theta_0|| / ||theta_0|| over every weight of the encoder."""
    state = encoder.state_dict()
    moved = sum(float((state[key] - value).double().pow(2).sum()) for key, value in start.items())
    norm = sum(float(value.double().pow(2).sum()) for value in start.values())
    return math.sqrt(moved / norm)


def scores(encoder: torch.nn.Module, retrieval, start: dict[str, torch.Tensor],
           limit: int | None) -> tuple[dict[str, float], torch.Tensor]:
    """The row of scores, and the Lee cosine matrix at LONG tokens."""
    row = {f"wordnet_{key}": value
           for key, value in wordnet_retrieval(encoder, retrieval).items()}
    for name in WORD_SETS:
        row.update({f"{name}_{key}": value
                    for key, value in correlations(encoder, *word_pairs(name, limit)).items()})
    documents, ratings = lee_set(None if limit is None else 10)
    for length, model in ((SHORT, encoder), (LONG, with_length(encoder, LONG))):
        metrics, cosine = lee_scores(model, documents, ratings)
        row.update({f"lee{length}_{key}": value for key, value in metrics.items()})
    row["weight_drift"] = relative_drift(encoder, start)
    return row, cosine


def train(recipe: str, splits, seed: int, steps: int | None, runs: Path) -> dict:
    overrides = {"seed": seed, **({} if steps is None else {"train.steps": steps})}
    result = contrastlearn.pretrain(recipe, dataset=splits, out=runs / f"{recipe}-seed{seed}",
                                    overwrite=True, overrides=overrides, progress=False,
                                    evaluate_after=False)
    trainable = sum(p.numel() for p in result.encoder.parameters() if p.requires_grad)
    return {"run_dir": str(result.run_dir), "steps": result.training.steps,
            "train_seconds": result.training.seconds, "trainable_weights": trainable,
            "lr": result.recipe.train.lr, "batch_size": result.recipe.train.batch_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, help="override the recipes' training steps")
    parser.add_argument("--runs", default="runs/bench-forgetting")
    parser.add_argument("--out", default="benchmarks/results/text_forgetting.jsonl")
    add_smoke_option(parser)
    args = parser.parse_args()
    size, limit = {}, None
    if args.smoke:
        args.steps, size, limit = 1, {"test_synsets": 40, "max_train_texts": 200}, 40
        folder = smoke_folder()
        args.runs, args.out = str(folder / "runs"), str(folder / "text_forgetting.jsonl")
        without_run_reports()
    context = machine_context()
    print(f"settings: recipes {args.recipes}, seed {args.seed}, steps "
          f"{args.steps or 'the recipes own'}, wordnet split {size or 'the recipes own'}, "
          f"{context['threads']} threads, load average {context['load_average']:.1f}, "
          f"{context['date']}", flush=True)
    splits = DATASETS.build("wordnet", holdout_fraction=0.2, seed=args.seed, **size)
    retrieval = splits.extras["retrieval"]
    untouched = hf_text_encoder(max_length=SHORT, progress=False).eval()
    start = {key: value.clone() for key, value in untouched.state_dict().items()}
    _, ratings = lee_set(None if limit is None else 10)
    measured, base = scores(untouched, retrieval, start, limit)
    rows = [keep_row(Path(args.out), {"model": UNTOUCHED, "seed": args.seed, "steps": 0,
                                      "trainable_weights": 0, **size, **measured})]
    for recipe in args.recipes:
        trained = train(recipe, splits, args.seed, args.steps, Path(args.runs))
        encoder = contrastlearn.load_encoder(trained["run_dir"])
        measured, cosine = scores(encoder, retrieval, start, limit)
        low, high = pearson_change_interval(cosine, base, ratings,
                                            draws=20 if args.smoke else BOOTSTRAP_DRAWS)
        rows.append(keep_row(Path(args.out), {
            "model": recipe, "seed": args.seed, **size, **trained, **measured,
            f"lee{LONG}_pearson_change_interval": [low, high]}))
    print("\n| model | trained weights | steps | weight drift | WordNet MRR | Recall@1 | "
          "SimLex-999 Spearman / Pearson | WordSim-353 Spearman / Pearson | train s |\n"
          "|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['model']} | {row['trainable_weights']:,} | {row['steps']} | "
              f"{row['weight_drift']:.4f} | {row['wordnet_mrr']:.3f} | "
              f"{row['wordnet_recall@1']:.3f} | {row['simlex999_spearman']:.3f} / "
              f"{row['simlex999_pearson']:.3f} | {row['wordsim353_spearman']:.3f} / "
              f"{row['wordsim353_pearson']:.3f} | {row.get('train_seconds', 0):.0f} |")
    print(f"\n| model | Lee Pearson, {SHORT} tokens | Lee Spearman, {SHORT} | "
          f"Lee Pearson, {LONG} tokens | Lee Spearman, {LONG} | Pearson change, {LONG} "
          "(95% bootstrap interval over articles) |\n|---|---|---|---|---|---|")
    for row in rows:
        change = "–"
        if f"lee{LONG}_pearson_change_interval" in row:
            low, high = row[f"lee{LONG}_pearson_change_interval"]
            change = (f"{row[f'lee{LONG}_pearson'] - rows[0][f'lee{LONG}_pearson']:+.3f} "
                      f"({low:+.3f} to {high:+.3f})")
        print(f"| {row['model']} | {row[f'lee{SHORT}_pearson']:.3f} | "
              f"{row[f'lee{SHORT}_spearman']:.3f} | {row[f'lee{LONG}_pearson']:.3f} | "
              f"{row[f'lee{LONG}_spearman']:.3f} | {change} |")


if __name__ == "__main__":
    main()
