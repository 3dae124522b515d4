import importlib
import math

import numpy as np
import pytest
import torch

from contrastlearn.evaluation import chunked_top_k, ranking_metrics

topk_module = importlib.import_module("contrastlearn.evaluation.topk")


def csr(lists):
    indptr = np.zeros(len(lists) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(items) for items in lists])
    items = np.array([item for items in lists for item in items], dtype=np.int64)
    return torch.from_numpy(indptr), torch.from_numpy(items)


def by_metric(results):
    return {result.metric: result for result in results}


def naive_metrics(users, items, truth, seen, ks, popularity=None):
    """Independent reference: one Python loop per user over an explicit sort of all items."""
    scores = users.double().numpy() @ items.double().numpy().T
    num_items = scores.shape[1]
    head = set(sorted(range(num_items), key=lambda i: (-popularity[i], i))[
        :math.ceil(0.2 * num_items)]) if popularity is not None else set()
    per_user = {f"{name}@{k}": [] for name in ("recall", "ndcg", "hit", "precision",
                                               "popularity", "tail_share") for k in ks}
    recommended = {k: set() for k in ks}
    for user, relevant in enumerate(truth):
        relevant = set(relevant)
        if not relevant:
            continue
        candidates = [i for i in range(num_items) if i not in set(seen[user])]
        ranking = sorted(candidates, key=lambda i: (-scores[user, i], i))
        for k in ks:
            top = ranking[:k]
            recommended[k].update(top)
            hits = [1.0 if item in relevant else 0.0 for item in top]
            dcg = sum(hit / math.log2(place + 2) for place, hit in enumerate(hits))
            idcg = sum(1 / math.log2(place + 2) for place in range(min(len(relevant), k)))
            per_user[f"recall@{k}"].append(sum(hits) / len(relevant))
            per_user[f"ndcg@{k}"].append(dcg / idcg)
            per_user[f"hit@{k}"].append(float(sum(hits) > 0))
            per_user[f"precision@{k}"].append(sum(hits) / k)
            if popularity is not None:
                per_user[f"popularity@{k}"].append(np.mean([popularity[i] for i in top]))
                per_user[f"tail_share@{k}"].append(np.mean([i not in head for i in top]))
    values = {name: float(np.mean(found)) for name, found in per_user.items() if found}
    values.update({f"coverage@{k}": len(recommended[k]) / num_items for k in ks})
    return values


def random_problem(seed=0, num_users=40, num_items=120, dim=8):
    generator = np.random.default_rng(seed)
    users = torch.from_numpy(generator.normal(size=(num_users, dim))).float()
    items = torch.from_numpy(generator.normal(size=(num_items, dim))).float()
    truth = [list(generator.choice(num_items, size=generator.integers(0, 13), replace=False))
             for _ in range(num_users)]
    seen = [list(generator.choice(num_items, size=generator.integers(0, 15), replace=False))
            for _ in range(num_users)]
    seen = [[item for item in row if item not in set(relevant)]
            for row, relevant in zip(seen, truth)]
    popularity = generator.integers(0, 50, size=num_items)
    return users, items, truth, seen, popularity


def test_matches_naive_per_user_loop():
    users, items, truth, seen, popularity = random_problem()
    ks = (5, 10, 20)
    results = by_metric(ranking_metrics(users, items, csr(truth), csr(seen), ks=ks,
                                        popularity=torch.from_numpy(popularity)))
    expected = naive_metrics(users, items, truth, seen, ks, popularity)
    assert set(results) == set(expected)
    for metric, value in expected.items():
        assert results[metric].value == pytest.approx(value, abs=1e-12), metric
    assert [r.metric for r in results.values()][:3] == ["recall@5", "recall@10", "recall@20"]
    assert all(r.protocol == "full_sort" and r.split == "test" for r in results.values())
    settings = results["ndcg@10"].settings
    assert settings["k"] == 10 and settings["ks"] == [5, 10, 20]
    assert settings["candidates"] == "full sort over all items"
    assert settings["masking"] == "train items masked" and settings["similarity"] == "dot"
    assert settings["num_items"] == 120 and settings["num_users"] == 40
    skipped = sum(1 for row in truth if not row)
    assert skipped > 0
    assert settings["num_users_skipped"] == skipped
    assert settings["num_users_evaluated"] == 40 - skipped


def test_hand_computed_recall_and_ndcg():
    # One dimension: item scores are 5, 4, 3, 2, 1 for a user vector [1].
    items = torch.tensor([[5.0], [4.0], [3.0], [2.0], [1.0]])
    users = torch.tensor([[1.0], [1.0]])
    # User 0 wants items 1 and 4: top 3 is 0, 1, 2 -> one hit at place 2.
    # User 1 has seen item 0 and wants item 2: top 3 is 1, 2, 3 -> one hit at place 2.
    results = by_metric(ranking_metrics(users, items, csr([[1, 4], [2]]), csr([[], [0]]),
                                        ks=(3,)))
    assert results["recall@3"].value == pytest.approx((1 / 2 + 1) / 2)
    ndcg_user0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    ndcg_user1 = (1 / math.log2(3)) / 1
    assert results["ndcg@3"].value == pytest.approx((ndcg_user0 + ndcg_user1) / 2)
    assert results["hit@3"].value == 1.0
    assert results["precision@3"].value == pytest.approx(1 / 3)
    assert results["coverage@3"].value == pytest.approx(4 / 5)  # items 0, 1, 2, 3


def test_seen_items_are_masked_and_never_hits():
    items = torch.tensor([[5.0], [4.0], [3.0], [2.0]])
    users = torch.tensor([[1.0]])
    truth = csr([[0]])
    unmasked = by_metric(ranking_metrics(users, items, truth, ks=(1,)))
    masked = by_metric(ranking_metrics(users, items, truth, csr([[0]]), ks=(1,)))
    assert unmasked["hit@1"].value == 1.0 and unmasked["recall@1"].settings["masking"] == (
        "nothing masked")
    assert masked["hit@1"].value == 0.0
    # Three of four items seen: the top 2 must take a seen item (score -inf) as second, and
    # it is no hit even when it is a truth item.
    full = by_metric(ranking_metrics(users, items, csr([[0]]), csr([[0, 1, 2]]), ks=(2,)))
    assert full["hit@2"].value == 0.0
    scores, indices = chunked_top_k(users, items, 2, exclude=csr([[0, 1, 2]]))
    assert indices.tolist() == [[3, 0]] and scores[0, 1] == -torch.inf


def test_users_without_truth_are_skipped():
    users, items, truth, seen, _ = random_problem(seed=1)
    keep = [index for index, row in enumerate(truth) if row]
    everyone = ranking_metrics(users, items, csr(truth), csr(seen), ks=(10,))
    only_kept = ranking_metrics(users[keep], items, csr([truth[i] for i in keep]),
                                csr([seen[i] for i in keep]), ks=(10,))
    assert [r.value for r in everyone] == pytest.approx([r.value for r in only_kept], abs=1e-12)
    assert everyone[0].settings["num_users_skipped"] == len(truth) - len(keep)
    with pytest.raises(ValueError, match="none of the 2 users has a truth item"):
        ranking_metrics(users[:2], items, csr([[], []]), ks=(10,))


def test_chunking_does_not_change_results():
    users, items, truth, seen, popularity = random_problem(seed=2)
    whole = ranking_metrics(users, items, csr(truth), csr(seen), popularity=popularity)
    for chunk_size in (1, 7):
        chunked = ranking_metrics(users, items, csr(truth), csr(seen), popularity=popularity,
                                  chunk_size=chunk_size)
        assert [r.value for r in chunked] == [r.value for r in whole]


def test_bad_inputs_name_the_fix():
    users, items, truth, seen, _ = random_problem(seed=3)
    with pytest.raises(ValueError, match="user_vectors have dim 8 but item_vectors have dim 4"):
        ranking_metrics(users, items[:, :4], csr(truth))
    with pytest.raises(ValueError, match="k = 500 is more than the 120 items"):
        ranking_metrics(users, items, csr(truth), ks=(10, 500))
    indptr, columns = csr(truth)
    with pytest.raises(ValueError, match=r"truth indptr has length 40 .* needs num_rows \+ 1"):
        ranking_metrics(users, items, (indptr[:-1], columns))
    with pytest.raises(ValueError, match=r"seen columns must lie in \[0, 120\)"):
        ranking_metrics(users, items, csr(truth), csr([[999]] + [[]] * 39))
    with pytest.raises(ValueError, match="must be non-decreasing"):
        ranking_metrics(users[:2], items, (torch.tensor([0, 2, 1]), torch.tensor([0])))
    with pytest.raises(ValueError, match="popularity must have one count per item"):
        ranking_metrics(users, items, csr(truth), popularity=torch.ones(7))
    with pytest.raises(ValueError, match="ks must be distinct integers >= 1"):
        ranking_metrics(users, items, csr(truth), ks=(0, 10))
    with pytest.raises(ValueError, match="must be a CSR pair"):
        ranking_metrics(users, items, indptr)
    with pytest.raises(ValueError) as error:
        ranking_metrics(users, items, csr(truth), ks=(500,))
    assert "\n" not in str(error.value)


def test_top_k_breaks_ties_by_lower_index():
    # Scores of the single query: items 0..5 -> 1, 3, 3, 2, 3, 1.
    keys = torch.tensor([[1.0], [3.0], [3.0], [2.0], [3.0], [1.0]])
    query = torch.tensor([[1.0]])
    scores, indices = chunked_top_k(query, keys, 4)
    assert indices.tolist() == [[1, 2, 4, 3]] and scores.tolist() == [[3.0, 3.0, 3.0, 2.0]]
    # The tie at 3 straddles place 2: the lower indices 1 and 2 are kept.
    assert chunked_top_k(query, keys, 2)[1].tolist() == [[1, 2]]
    # A tie straddling the last place among many equal keys.
    flat = torch.zeros(50, 1)
    assert chunked_top_k(query, flat, 5)[1].tolist() == [[0, 1, 2, 3, 4]]


def test_top_k_matches_sorting_with_exclusions_and_cosine():
    generator = torch.Generator().manual_seed(0)
    queries = torch.randn(9, 5, generator=generator)
    keys = torch.randn(30, 5, generator=generator) * torch.rand(30, 1, generator=generator)
    seen = [[0, 3], [], [29, 1, 2], [5], [], [7, 8, 9, 10], [0], [], [11]]
    for normalize in (False, True):
        scores, indices = chunked_top_k(queries, keys, 6, exclude=csr(seen),
                                        normalize=normalize, chunk_size=2)
        unit = torch.nn.functional.normalize
        full = (unit(queries, dim=1) @ unit(keys, dim=1).T if normalize
                else queries @ keys.T)
        for row, excluded in enumerate(seen):
            full[row, excluded] = -torch.inf
        expected_scores, expected = full.sort(dim=1, descending=True, stable=True)
        assert torch.equal(indices, expected[:, :6])
        assert torch.allclose(scores, expected_scores[:, :6])
        assert indices.dtype == torch.int64


def test_top_k_orders_many_ties_like_a_stable_sort():
    generator = torch.Generator().manual_seed(2)
    queries = torch.randint(-2, 3, (16, 3), generator=generator).float()
    keys = torch.randint(-2, 3, (3000, 3), generator=generator).float()  # few distinct scores
    scores, indices = chunked_top_k(queries, keys, 200)
    expected_scores, expected = (queries @ keys.T).sort(dim=1, descending=True, stable=True)
    assert torch.equal(indices, expected[:, :200])
    assert torch.equal(scores, expected_scores[:, :200])


def test_top_k_keeps_float64_and_checks_inputs():
    scores, _ = chunked_top_k(torch.ones(2, 3, dtype=torch.float64), torch.ones(4, 3), 2)
    assert scores.dtype == torch.float64
    with pytest.raises(ValueError, match="k must be between 1 and the number of keys 4"):
        chunked_top_k(torch.ones(2, 3), torch.ones(4, 3), 5)
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        chunked_top_k(torch.ones(2, 3), torch.ones(4, 3), 2, chunk_size=0)
    with pytest.raises(ValueError, match="exclude indptr has length 2"):
        chunked_top_k(torch.ones(2, 3), torch.ones(4, 3), 2,
                      exclude=(torch.tensor([0, 0]), torch.tensor([], dtype=torch.long)))
    with pytest.raises(ValueError, match="contain NaN or Inf"):
        chunked_top_k(torch.full((2, 3), torch.nan), torch.ones(4, 3), 2)


def test_chunks_stay_bounded(monkeypatch):
    # At full scale (100k users x 100k items) a chunk holds at most SIMILARITIES_PER_CHUNK
    # scores, so memory is bounded whatever the number of users.
    rows = topk_module.rows_per_chunk(100_000)
    assert rows >= 1 and rows * 100_000 <= topk_module.SIMILARITIES_PER_CHUNK
    assert rows * 100_000 > topk_module.SIMILARITIES_PER_CHUNK - 100_000
    assert topk_module.rows_per_chunk(10**9) == 1
    # Scaled down: 64 scores per chunk over 20 keys -> chunks of 3 rows.
    monkeypatch.setattr(topk_module, "SIMILARITIES_PER_CHUNK", 64)
    shapes = []
    select = topk_module._top_k_rows
    monkeypatch.setattr(topk_module, "_top_k_rows",
                        lambda scores, k: shapes.append(tuple(scores.shape)) or select(scores, k))
    generator = torch.Generator().manual_seed(1)
    queries, keys = torch.randn(10, 4, generator=generator), torch.randn(20, 4, generator=generator)
    _, indices = chunked_top_k(queries, keys, 5)
    assert shapes == [(3, 20), (3, 20), (3, 20), (1, 20)]
    assert torch.equal(indices, (queries @ keys.T).sort(dim=1, descending=True).indices[:, :5])
