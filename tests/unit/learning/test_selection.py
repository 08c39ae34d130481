import numpy as np
import pytest

from learning.selection import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    SelectionError,
    diverse_sample,
    entropy_scores,
    least_confidence_scores,
    margin_scores,
    select_batch,
)

# Hand-made probabilities: row 0 confident, row 1 a near tie between two classes,
# row 2 spread over three classes, row 3 mildly confident.
PROBA = np.array(
    [
        [0.98, 0.01, 0.01],
        [0.50, 0.46, 0.04],
        [0.34, 0.33, 0.33],
        [0.70, 0.20, 0.10],
    ]
)


def _pool(n: int = 200, n_features: int = 5, n_classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [f"id-{i}" for i in range(n)]
    features = rng.normal(size=(n, n_features))
    proba = rng.dirichlet(np.ones(n_classes), size=n)
    return ids, features, proba


@pytest.mark.parametrize(
    ("scorer", "expected_order"),
    [
        # most uncertain first
        (least_confidence_scores, [2, 1, 3, 0]),
        (margin_scores, [2, 1, 3, 0]),
        (entropy_scores, [2, 1, 3, 0]),
    ],
)
def test_scorers_rank_hand_made_probabilities(scorer, expected_order):
    scores = scorer(PROBA)
    assert list(np.argsort(-scores, kind="stable")) == expected_order


def test_scorers_disagree_where_they_should():
    # Margin prefers a two-way tie; entropy prefers mass spread over many classes.
    proba = np.array([[0.5, 0.5, 0.0, 0.0], [0.4, 0.2, 0.2, 0.2]])
    assert margin_scores(proba)[0] > margin_scores(proba)[1]
    assert entropy_scores(proba)[1] > entropy_scores(proba)[0]
    assert least_confidence_scores(proba)[1] > least_confidence_scores(proba)[0]


def test_score_values():
    proba = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert margin_scores(proba).tolist() == pytest.approx([0.0, 1.0])
    assert least_confidence_scores(proba).tolist() == pytest.approx([0.0, 0.5])
    assert entropy_scores(proba).tolist() == pytest.approx([0.0, np.log(2)])


@pytest.mark.parametrize("strategy", ["least_confidence", "margin", "entropy"])
def test_uncertainty_strategies_take_the_most_uncertain(strategy):
    ids = ["a", "b", "c", "d"]
    features = np.eye(4)
    assert select_batch(strategy, ids, features, PROBA, 2, seed=3) == ["c", "b"]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("with_model", [True, False])
def test_same_seed_same_batch(strategy, with_model):
    ids, features, proba = _pool()
    p = proba if with_model else None
    first = select_batch(strategy, ids, features, p, 20, seed=7)
    again = select_batch(strategy, ids, features, p, 20, seed=7)
    assert first == again
    assert len(set(first)) == 20


@pytest.mark.parametrize("strategy", ["random", DEFAULT_STRATEGY])
def test_different_seeds_can_give_different_batches(strategy):
    ids, features, _ = _pool()
    batches = {tuple(select_batch(strategy, ids, features, None, 20, seed=s)) for s in range(4)}
    assert len(batches) > 1


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("with_model", [True, False])
def test_excluded_items_are_never_selected(strategy, with_model):
    ids, features, proba = _pool(n=60)
    # Exclude the 40 most uncertain items: the ones a strategy would want most.
    most_uncertain = np.argsort(-margin_scores(proba))[:40]
    exclude = {ids[i] for i in most_uncertain} | {"not-in-pool"}
    batch = select_batch(strategy, ids, features, proba if with_model else None, 20, exclude=exclude, seed=1)
    assert len(batch) == 20
    assert not set(batch) & exclude
    # Exactly the 20 selectable items are left.
    assert set(batch) == set(ids) - exclude


def test_batch_of_duplicates_is_not_all_copies():
    ids, features, proba = _pool(n=400, seed=2)
    # 50 exact copies of one item that the model finds maximally confusing.
    copies = [f"copy-{i}" for i in range(50)]
    ids = ids + copies
    features = np.vstack([features, np.repeat(features[:1] + 10.0, 50, axis=0)])
    proba = np.vstack([proba, np.repeat([[0.5, 0.5, 0.0]], 50, axis=0)])

    margin_batch = select_batch("margin", ids, features, proba, 10, seed=0)
    default_batch = select_batch(DEFAULT_STRATEGY, ids, features, proba, 10, seed=0)

    assert all(i.startswith("copy-") for i in margin_batch)  # the failure diversity prevents
    assert sum(i.startswith("copy-") for i in default_batch) == 1
    # The others come from the most uncertain distinct rows (the copy plus 99 originals
    # are the 10 x 10 candidates), not from anywhere in the pool.
    rest = [i for i in default_batch if not i.startswith("copy-")]
    threshold = np.sort(margin_scores(proba[:400]))[::-1][98]
    assert all(margin_scores(proba[[ids.index(i)]])[0] >= threshold for i in rest)


def test_near_copies_of_one_confusing_item_take_one_slot():
    # Exact duplicates are dropped before clustering; near-copies (a scanned page twice,
    # a re-encoded image) are not, so only the diversity step keeps them out of the batch.
    ids, features, proba = _pool(n=400, seed=3)
    rng = np.random.default_rng(3)
    near = [f"near-{i}" for i in range(50)]
    ids = ids + near
    features = np.vstack([features, features[:1] + 10.0 + rng.normal(scale=1e-3, size=(50, features.shape[1]))])
    proba = np.vstack([proba, np.repeat([[0.5, 0.5, 0.0]], 50, axis=0)])

    margin_batch = select_batch("margin", ids, features, proba, 10, seed=0)
    default_batch = select_batch(DEFAULT_STRATEGY, ids, features, proba, 10, seed=0)

    assert all(i.startswith("near-") for i in margin_batch)
    assert sum(i.startswith("near-") for i in default_batch) == 1


def test_cold_start_is_diverse():
    # Five tight, far-apart clusters; the biggest holds most items.
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [100, 0], [0, 100], [100, 100], [50, 50]], dtype=float)
    sizes = [400, 10, 10, 10, 10]
    features = np.vstack([c + rng.normal(scale=0.5, size=(s, 2)) for c, s in zip(centres, sizes, strict=True)])
    cluster_of = np.repeat(np.arange(5), sizes)
    ids = [f"id-{i}" for i in range(len(features))]

    for strategy in ("margin", DEFAULT_STRATEGY):
        batch = select_batch(strategy, ids, features, None, 5, seed=4)
        assert sorted(cluster_of[[ids.index(i) for i in batch]].tolist()) == [0, 1, 2, 3, 4]
    assert sorted(cluster_of[diverse_sample(features, 5, seed=4)].tolist()) == [0, 1, 2, 3, 4]


def test_cold_start_with_fewer_distinct_rows_than_batch():
    features = np.array([[0.0], [0.0], [1.0], [1.0]])
    batch = select_batch(DEFAULT_STRATEGY, ["a", "b", "c", "d"], features, None, 3, seed=0)
    assert len(set(batch)) == 3
    assert {"a", "b"} & set(batch) and {"c", "d"} & set(batch)


def test_default_covers_uncertain_regions():
    # Two uncertain regions far apart; the batch takes from both.
    rng = np.random.default_rng(1)
    features = np.vstack([rng.normal(0, 0.1, (30, 2)), rng.normal(10, 0.1, (30, 2)), rng.normal(5, 0.1, (140, 2))])
    proba = np.vstack([np.tile([0.5, 0.5], (60, 1)), np.tile([0.99, 0.01], (140, 1))])
    ids = [f"id-{i}" for i in range(200)]
    batch = select_batch(DEFAULT_STRATEGY, ids, features, proba, 6, seed=0)
    rows = [ids.index(i) for i in batch]
    assert all(r < 60 for r in rows)
    assert any(r < 30 for r in rows) and any(30 <= r < 60 for r in rows)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 30, "exclude": {f"id-{i}" for i in range(15)}}, "bigger than the 25 selectable items"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"features": np.zeros((39, 3))}, "features has 39 rows but item_ids has 40"),
        ({"features": np.zeros(40)}, "2-D"),
        ({"proba": np.full((41, 2), 0.5)}, "proba has 41 rows but item_ids has 40"),
        ({"proba": np.full((40, 1), 1.0)}, "classes>=2"),
        ({"proba": np.vstack([np.full((39, 2), 0.5), [[0.9, 0.3]]])}, "row 39 is not a probability"),
        ({"item_ids": [f"id-{i}" for i in range(39)] + ["id-3"]}, "duplicate id 'id-3' at row 39"),
        ({"strategy": "bald"}, "unknown strategy 'bald'"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, message):
    args = {
        "strategy": DEFAULT_STRATEGY,
        "item_ids": [f"id-{i}" for i in range(40)],
        "features": np.zeros((40, 3)),
        "proba": np.full((40, 2), 0.5),
        "batch_size": 5,
    }
    args.update(kwargs)
    with pytest.raises(SelectionError, match=message):
        select_batch(**args)


def test_nan_features_name_the_row():
    features = np.zeros((10, 2))
    features[6, 1] = np.nan
    with pytest.raises(SelectionError, match="row 6"):
        select_batch("random", [str(i) for i in range(10)], features, None, 2)
