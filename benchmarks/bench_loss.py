"""Forward + backward time of contrastlearn's InfoNCE-family losses against textbook peers.

    python benchmarks/bench_loss.py [--batch 512] [--dim 128] [--repeats 50] [--threads N]
    python benchmarks/bench_loss.py --smoke   # batch 16, dim 8, 1 repeat: runs?

The reference is the common SimCLR implementation (concatenate, similarity matrix, mask the
diagonal, cross_entropy). Ours also computes its metrics (accuracy, mean cosines). Further rows
time the general path (one duplicate id in the batch) and a 4096-key queue of negatives, the
latter against the same textbook code with the queue's logits concatenated. DCL, DCLW and
SupCon are timed against textbook versions of the same losses (the papers' formulas in the
usual concat-and-mask style; pytorch-metric-learning is not installed here) and against InfoNCE
at the same batch. `--options` times every registered method option (METHOD_OPTIONS) on
InfoNCE against plain InfoNCE at the same batch: pair options edit InfoNCE's weighted pair
table, feature views change the embeddings before it; "pair table" is the table with no edit,
the base cost every pair option pays.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from result_rows import add_smoke_option

from contrastlearn.augment.feature_views import FeatureView
from contrastlearn.core.registry import METHOD_OPTIONS
from contrastlearn.objectives import DCL, DCLW, InfoNCE, SupCon
from contrastlearn.objectives.pair_options import PairOption, PairTable


class UnchangedTable(PairOption):
    """The pair table with no edit: what every pair option costs before its own work."""

    def forward(self, table: PairTable) -> PairTable:
        return table


def option_cases(z1: torch.Tensor, z2: torch.Tensor, temperature: float
                 ) -> list[tuple[str, Callable[[], torch.Tensor]]]:
    """(name, step) of InfoNCE with each registered method option at its defaults."""
    cases = []
    def build(name: str):  # defaults, with the embedding size where the option takes one
        factory = METHOD_OPTIONS.get(name)
        takes_dim = "dim" in inspect.signature(factory).parameters
        return factory(**({"dim": z1.shape[1]} if takes_dim else {}))

    for name, option in [("pair table", UnchangedTable())] + [
            (name, build(name)) for name in METHOD_OPTIONS.names()]:
        loss = InfoNCE(temperature=temperature)
        if isinstance(option, PairOption):
            loss.add_pair_option(option)
            cases.append((name, lambda loss=loss: loss([z1, z2]).loss))
        elif isinstance(option, FeatureView):
            cases.append((name, lambda loss=loss, view=option: loss(view([z1, z2])).loss))
    return cases


def reference_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(z.shape[0], dtype=torch.bool), float("-inf"))
    batch = z1.shape[0]
    targets = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)])
    return F.cross_entropy(logits, targets)


def reference_nt_xent_with_queue(
    z1: torch.Tensor, z2: torch.Tensor, queue: torch.Tensor, temperature: float
) -> torch.Tensor:
    """The same, with the queue's (already normalised) keys appended as extra negatives."""
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(z.shape[0], dtype=torch.bool), float("-inf"))
    logits = torch.cat([logits, z @ queue.T / temperature], dim=1)
    batch = z1.shape[0]
    targets = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)])
    return F.cross_entropy(logits, targets)


def _similarities(z1: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The cosine matrix of both views against both views, and each row's positive column."""
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    batch = z1.shape[0]
    return z @ z.T, torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)])


def reference_dcl(z1: torch.Tensor, z2: torch.Tensor, temperature: float,
                  sigma: float | None = None) -> torch.Tensor:
    """Decoupled contrastive loss (Yeh et al., 2021): the positive leaves the denominator;
    with `sigma`, the positive is weighted by 2 - exp(c/sigma) / mean exp(c/sigma) (DCLW)."""
    similarity, targets = _similarities(z1, z2)
    rows = torch.arange(similarity.shape[0])
    positive = similarity[rows, targets]
    excluded = torch.eye(similarity.shape[0], dtype=torch.bool)
    excluded[rows, targets] = True
    negative = (similarity / temperature).masked_fill(excluded, float("-inf")).logsumexp(dim=1)
    weight = 1.0
    if sigma is not None:
        scores = torch.exp(positive / sigma)
        weight = 2.0 - scores / scores.mean()
    return (negative - weight * positive / temperature).mean()


def reference_supcon(z1: torch.Tensor, z2: torch.Tensor, labels: torch.Tensor,
                     temperature: float) -> torch.Tensor:
    """SupCon L_out (Khosla et al., 2020, eq. 2) with two views, as its official code writes it."""
    similarity, _ = _similarities(z1, z2)
    both = torch.cat([labels, labels])
    not_self = ~torch.eye(similarity.shape[0], dtype=torch.bool)
    positive = (both[:, None] == both[None, :]) & not_self
    logits = (similarity / temperature).masked_fill(~not_self, float("-inf"))
    log_probability = logits - logits.logsumexp(dim=1, keepdim=True)
    mean_positive = log_probability.masked_fill(~positive, 0.0).sum(1) / positive.sum(1)
    return -mean_positive.mean()


def median_times_ms(
    steps: list[Callable[[], torch.Tensor]], inputs: list[torch.Tensor], warmup: int, repeats: int
) -> list[float]:
    """Median forward+backward time of each step; the steps take turns, so that a change of
    load on the machine affects all of them alike."""
    times: list[list[float]] = [[] for _ in steps]
    for index in range(warmup + repeats):
        for step, step_times in zip(steps, times):
            for tensor in inputs:
                tensor.grad = None
            start = time.perf_counter()
            step().backward()
            elapsed = time.perf_counter() - start
            if index >= warmup:
                step_times.append(elapsed * 1e3)
    return [statistics.median(step_times) for step_times in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--options", action="store_true",
                        help="also every registered method option on InfoNCE")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.dim, args.repeats, args.warmup = 16, 8, 1, 0
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    generator = torch.Generator().manual_seed(0)
    z1 = torch.randn(args.batch, args.dim, generator=generator).requires_grad_()
    z2 = torch.randn(args.batch, args.dim, generator=generator).requires_grad_()
    temperature = args.temperature
    objective = InfoNCE(temperature=temperature)
    duplicate_ids = torch.arange(args.batch)
    duplicate_ids[-1] = 0
    queue = F.normalize(torch.randn(4096, args.dim, generator=generator), dim=1)

    labels = torch.randint(0, 10, (args.batch,), generator=generator)
    dcl, dclw, supcon = DCL(temperature), DCLW(temperature), SupCon(temperature)
    torch.testing.assert_close(objective([z1, z2]).loss, reference_nt_xent(z1, z2, temperature))
    torch.testing.assert_close(dcl([z1, z2]).loss, reference_dcl(z1, z2, temperature))
    torch.testing.assert_close(dclw([z1, z2]).loss, reference_dcl(z1, z2, temperature, 0.5))
    torch.testing.assert_close(supcon([z1, z2], labels=labels).loss,
                               reference_supcon(z1, z2, labels, temperature))
    torch.testing.assert_close(
        objective([z1, z2], negatives=queue).loss,
        reference_nt_xent_with_queue(z1, z2, queue, temperature),
    )

    # (setting, loss, step, index of the step it is compared with)
    cases: list[tuple[str, str, Callable[[], torch.Tensor], int]] = [
        ("2 views", "reference NT-Xent", lambda: reference_nt_xent(z1, z2, temperature), 0),
        ("2 views", "InfoNCE (ours)", lambda: objective([z1, z2]).loss, 0),
        ("2 views, 1 duplicate id", "InfoNCE (ours)",
         lambda: objective([z1, z2], ids=duplicate_ids).loss, 0),
        ("2 views + 4096 queue", "reference NT-Xent",
         lambda: reference_nt_xent_with_queue(z1, z2, queue, temperature), 3),
        ("2 views + 4096 queue", "InfoNCE (ours)",
         lambda: objective([z1, z2], negatives=queue).loss, 3),
        ("2 views", "reference DCL", lambda: reference_dcl(z1, z2, temperature), 5),
        ("2 views", "DCL (ours)", lambda: dcl([z1, z2]).loss, 5),
        ("2 views", "reference DCLW", lambda: reference_dcl(z1, z2, temperature, 0.5), 7),
        ("2 views", "DCLW (ours)", lambda: dclw([z1, z2]).loss, 7),
        ("2 views, 10 classes", "reference SupCon",
         lambda: reference_supcon(z1, z2, labels, temperature), 9),
        ("2 views, 10 classes", "SupCon (ours)", lambda: supcon([z1, z2], labels=labels).loss, 9),
    ]
    if args.options or args.smoke:
        cases += [("2 views, option", name, step, 1)
                  for name, step in option_cases(z1, z2, temperature)]
    medians = median_times_ms([case[2] for case in cases], [z1, z2], args.warmup, args.repeats)

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device cpu, float32")
    print(f"batch {args.batch}, dim {args.dim}, 2 views, temperature {args.temperature}, "
          f"median of {args.repeats} forward+backward after {args.warmup} warmup")
    ours = medians[1]  # InfoNCE, 2 views
    print(f"{'setting':<26}{'loss':<38}{'ms':>9}{'ratio':>8}{'/ InfoNCE':>11}")
    for (setting, name, _, baseline), milliseconds in zip(cases, medians):
        ratio = milliseconds / medians[baseline]
        print(f"{setting:<26}{name:<38}{milliseconds:>9.2f}{ratio:>8.2f}"
              f"{milliseconds / ours:>11.2f}")
    print("ratio: time / time of the reference of the same setting (the duplicate-id case has "
          "no textbook reference and is compared with plain NT-Xent); / InfoNCE: time / time "
          "of our InfoNCE with 2 views at the same batch")


if __name__ == "__main__":
    main()
