"""Time the frozen-feature evaluators at the size the library promises to handle quickly:
60,000 x 512 train embeddings, 10,000 test, 10 classes (the target is < 60 s each on 2 CPU
cores).

The embeddings are random but structured like real ones: Gaussian class means in a 64-dim
latent space plus isotropic noise, mapped to 512 dims by a random matrix with decaying singular
values (so features are correlated and badly scaled, as encoder outputs are), then a ReLU.

    python benchmarks/bench_evaluation.py [--num-train 60000] [--num-test 10000] [--dim 512]
        [--protocols knn linear_probe logistic_regression retrieval clustering anomaly svm]
    python benchmarks/bench_evaluation.py --smoke   # 500 x 64 train, 100 test: runs?

kNN and the linear probe are the promised ones; the other protocols are timed for information.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
from result_rows import add_smoke_option

import contrastlearn.evaluation  # noqa: F401  (registers the evaluators)
from contrastlearn.core.registry import EVALUATORS

SETTINGS = {"knn": {"k": 200, "temperature": 0.07},
            "linear_probe": {"weight_decay": 1e-4, "max_iter": 200}}


def structured_embeddings(
    num_train: int, num_test: int, dim: int, num_classes: int, seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    latent_dim = 64
    if dim < latent_dim:
        raise SystemExit(f"--dim must be at least the latent dimension {latent_dim}, got {dim}")
    class_means = 0.45 * torch.randn(num_classes, latent_dim, generator=generator)
    singular_values = torch.logspace(0, -2, latent_dim)
    left, _ = torch.linalg.qr(torch.randn(dim, latent_dim, generator=generator))
    right, _ = torch.linalg.qr(torch.randn(latent_dim, latent_dim, generator=generator))
    mixing = (left * singular_values) @ right.T  # (dim, latent_dim)

    def draw(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(num_classes, (count,), generator=generator)
        latent = class_means[labels] + torch.randn(count, latent_dim, generator=generator)
        features = latent @ mixing.T + 0.01 * torch.randn(count, dim, generator=generator)
        return torch.relu(features + 0.02), labels

    train_x, train_y = draw(num_train)
    test_x, test_y = draw(num_test)
    return train_x, train_y, test_x, test_y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-train", type=int, default=60_000)
    parser.add_argument("--num-test", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--protocols", nargs="+", default=["knn", "linear_probe"],
                        help="registered evaluator names (svm grid search takes many minutes)")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.num_train, args.num_test, args.dim, args.repeats = 500, 100, 64, 1

    train_x, train_y, test_x, test_y = structured_embeddings(
        args.num_train, args.num_test, args.dim, args.num_classes
    )
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs visible, torch threads {torch.get_num_threads()}")
    print(f"train {tuple(train_x.shape)}, test {tuple(test_x.shape)}, "
          f"{args.num_classes} classes\n")

    header = (f"{'protocol':<13} {'seconds':>8} {'value':>7} {'threads':>7} "
              f"{'load before':>11} {'load after':>10}  settings")
    print(header)
    print("-" * len(header))
    for name in args.protocols:
        evaluate = EVALUATORS.get(name)
        for _ in range(args.repeats):
            load_before = os.getloadavg()[0]
            start = time.perf_counter()
            measured = evaluate(train_x, train_y, test_x, test_y, **SETTINGS.get(name, {}))
            seconds = time.perf_counter() - start
            load_after = os.getloadavg()[0]
            result = measured[0] if isinstance(measured, list) else measured
            shown = {key: value for key, value in result.settings.items()
                     if key not in ("num_train", "num_test", "dim", "num_classes",
                                    "per_class_auroc")}
            print(f"{name:<13} {seconds:>8.2f} {result.formatted_value():>7} "
                  f"{torch.get_num_threads():>7} {load_before:>11.2f} {load_after:>10.2f}  "
                  f"{result.metric} {str(shown)[:150]}", flush=True)


if __name__ == "__main__":
    main()
