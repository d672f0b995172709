"""Agreement numbers against hand-worked examples (the arithmetic is in each test's comment)."""

from __future__ import annotations

import pytest

from labelbay import labels
from labelbay.evaluation.agreement import (
    cohen_kappa,
    consensus,
    krippendorff_alpha,
    match_f1,
    pairwise_agreement,
)


def box(name: str, x1: float, y1: float, x2: float, y2: float) -> labels.Label:
    return labels.make("box", name, {"x1": x1, "y1": y1, "x2": x2, "y2": y2})


def test_identical_labels_agree_fully() -> None:
    a = [box("cat", 0, 0, 10, 10), box("dog", 20, 20, 30, 30)]
    assert match_f1(a, list(a)) == 1.0
    assert match_f1([], []) == 1.0


def test_disjoint_labels_do_not_agree() -> None:
    assert match_f1([box("cat", 0, 0, 10, 10)], [box("cat", 50, 50, 60, 60)]) == 0.0
    assert match_f1([box("cat", 0, 0, 10, 10)], []) == 0.0


def test_one_shifted_box() -> None:
    # shifted by half its width: intersection 5x10 = 50, union 100 + 100 - 50 = 150, IoU 1/3
    a, b = [box("cat", 0, 0, 10, 10)], [box("cat", 5, 0, 15, 10)]
    assert match_f1(a, b) == 0.0
    assert match_f1(a, b, iou=0.3) == 1.0
    # two boxes each; one shifted by 2 (IoU 80/120 = 0.67, matched), one by 5 (IoU 1/3, not):
    # F1 = 2 * 1 / (2 + 2) = 0.5
    a = [box("cat", 0, 0, 10, 10), box("cat", 20, 0, 30, 10)]
    b = [box("cat", 2, 0, 12, 10), box("cat", 25, 0, 35, 10)]
    assert match_f1(a, b) == 0.5


def test_class_mismatch_does_not_match() -> None:
    assert match_f1([box("cat", 0, 0, 10, 10)], [box("dog", 0, 0, 10, 10)]) == 0.0
    one = [labels.make("classification", "cat")]
    assert match_f1(one, [labels.make("classification", "cat")]) == 1.0
    assert match_f1(one, [labels.make("classification", "dog")]) == 0.0


def test_pairwise_and_per_rater_agreement() -> None:
    same = [box("cat", 0, 0, 10, 10)]
    result = pairwise_agreement({1: same, 2: list(same), 3: [box("dog", 0, 0, 10, 10)]})
    assert result is not None
    # pairs (1,2) = 1, (1,3) = 0, (2,3) = 0: mean 1/3; raters 1 and 2: (1 + 0) / 2, rater 3: 0
    assert result.mean_f1 == pytest.approx(1 / 3)
    assert result.per_rater == {1: 0.5, 2: 0.5, 3: 0.0}
    assert pairwise_agreement({1: same}) is None


def test_cohen_kappa() -> None:
    # 50 items: both yes 20, yes/no 5, no/yes 10, both no 15. p_o = 35/50 = 0.7; rater 1 says
    # yes 25 times, rater 2 30 times: p_e = (25*30 + 25*20) / 2500 = 0.5; kappa = 0.2/0.5 = 0.4
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert cohen_kappa([("y", "y"), ("n", "n")]) == 1.0
    assert cohen_kappa([]) is None


def test_krippendorff_alpha_nominal() -> None:
    # units aa, ab, bb: coincidences o_aa = 2, o_ab = o_ba = 1, o_bb = 2; n_a = n_b = 3, n = 6.
    # D_o = 2, D_e = (36 - 9 - 9) / 5 = 3.6, alpha = 1 - 2/3.6 = 4/9
    assert krippendorff_alpha([["a", "a"], ["a", "b"], ["b", "b"]]) == pytest.approx(4 / 9)
    assert krippendorff_alpha([["a", "a", "a"], ["b", "b"]]) == 1.0
    # a unit with one rating is not pairable and changes nothing
    assert krippendorff_alpha([["a", "a"], ["a", "b"], ["b", "b"], ["a"]]) == pytest.approx(4 / 9)
    # perfect disagreement on two units: o_ab = o_ba = 2, n = 4, D_e = (16 - 4 - 4)/3 = 8/3
    # alpha = 1 - 4 / (8/3) = -0.5
    assert krippendorff_alpha([["a", "b"], ["b", "a"]]) == pytest.approx(-0.5)


def test_consensus_of_three_annotators_equals_the_hand_merge() -> None:
    raters = {
        1: [box("cat", 0, 0, 10, 10), box("dog", 50, 50, 60, 60)],
        2: [box("cat", 2, 0, 12, 10), box("cat", 50, 52, 60, 62)],
        3: [box("dog", 1, 1, 11, 11), box("cat", 80, 80, 90, 90)],
    }
    # cluster 1: (0,0,10,10), (2,0,12,10) [IoU 80/120 with the first], (1,1,11,11) [IoU 90/110
    # with the mean (1,0,11,10)]: mean (1, 1/3, 11, 31/3), classes cat, cat, dog -> cat.
    # cluster 2: (50,50,60,60) dog and (50,52,60,62) cat: 2 of 3 annotators (>= 1.5) kept,
    # mean (50, 51, 60, 61), a tie -> dog, voted first. cluster 3: one annotator, dropped.
    merged = consensus(raters)
    assert [(m.label, m.box) for m in merged] == [
        ("cat", pytest.approx((1.0, 1 / 3, 11.0, 31 / 3))),
        ("dog", (50.0, 51.0, 60.0, 61.0)),
    ]
    classes = {1: [labels.make("classification", "b")], 2: [labels.make("classification", "a")]}
    assert [(m.kind, m.label) for m in consensus(classes)] == [("classification", "b")]


def test_uncertainty_is_one_minus_the_smallest_margin() -> None:
    scored = [
        labels.make("box", "cat", {"x1": 0, "y1": 0, "x2": 1, "y2": 1}, score=s)
        for s in (0.9, 0.55)
    ]
    # margins |2*0.9 - 1| = 0.8 and |2*0.55 - 1| = 0.1
    assert labels.uncertainty(scored) == pytest.approx(0.9)
    top_k = [{"label": "cat", "score": 0.6}, {"label": "dog", "score": 0.3}]
    classified = labels.make("classification", "cat", score=0.6, top_k=top_k)
    assert labels.uncertainty([classified]) == pytest.approx(0.7)
    assert (
        labels.uncertainty([labels.make("box", "cat", {"x1": 0, "y1": 0, "x2": 1, "y2": 1})])
        is None
    )
    assert labels.uncertainty([]) is None
