"""Synthetic classification problems shared by the evaluation tests."""

import numpy as np


def noisy_problem(seed=0, num_train=300, num_test=200, dim=10, num_classes=3):
    """Gaussian classes around random centres, noisy enough that classifiers differ."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(num_classes, dim))
    train_y = rng.integers(0, num_classes, size=num_train)
    test_y = rng.integers(0, num_classes, size=num_test)
    train_x = centers[train_y] + rng.normal(scale=1.2, size=(num_train, dim))
    test_x = centers[test_y] + rng.normal(scale=1.2, size=(num_test, dim))
    return train_x, train_y, test_x, test_y
