"""The family model v2's parts: slates from the log, the time-ordered split, the contextual
learner, the blend and its guard, the metrics, reasons from the family's history, the ranker
spec in a manifest, and llama.cpp's pointwise scoring over a shared prefix."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.domain.catalog import load_builtin_catalog
from engine.domain.interactions import InteractionView
from engine.ranker.blend import Blend, Case, fit_blend, hit_rate, standardized
from engine.ranker.family_ranker import RankerSpec, rank
from engine.ranker.learner import ContextualLearner, fit_learner
from engine.ranker.metrics import hit_at, ndcg_at, paired_bootstrap, reciprocal_rank, wilson
from engine.ranker.moment import Member, Moment, member_key, moment_of
from engine.ranker.prompts import prefix, suffix
from engine.ranker.reasons import candidate_reasons
from engine.ranker.slates import build_slates, split
from engine.ranker.trees import Schema, TreeLearner, fit_trees
from engine.schema.context import parse_context
from engine.schema.profiles import parse_profile

ITEMS = load_builtin_catalog()
BY_ID = {i.id: i for i in ITEMS}
DATA = Path(__file__).parent / "data"


def _profile() -> Any:
    import json

    return parse_profile(json.loads((DATA / "smith-family.json").read_text()))


def _moment(daytype: str, part: str, who: tuple[str, ...] = ("a",)) -> Moment:
    day = "saturday" if daytype == "weekend" else "tuesday"
    return Moment(day, daytype, part, None, (), tuple(Member(k, "child", 8) for k in who))


def test_member_keys_hide_names_and_moments_use_words_only() -> None:
    key = member_key("smith-family", "child-emma")
    assert "emma" not in key and key == member_key("smith-family", "child-emma")
    assert key != member_key("jones-family", "child-emma")  # salted per family
    ctx = parse_context({"timeOfDay": "morning", "dayOfWeek": "saturday",
                         "currentActivity": "breakfast with Emma at 555-1234",
                         "environmentalFactors": ["home", "sunny", "call Emma"]})  # fmt: skip
    m = moment_of("smith-family", ctx, [("child-emma", "child", 8), ("dad-john", "parent", 40)])
    assert (m.daytype, m.part, m.activity, m.factors) == ("weekend", "morning", "breakfast",
                                                          ("home", "sunny"))  # fmt: skip
    text = prefix(m) + suffix(ITEMS[0])
    assert "Emma" not in text and "John" not in text and "555" not in text
    assert "parent 40, child 8" in text and text.endswith("Answer:")


def _rows(n: int, rng: random.Random) -> list[tuple[Moment, Any, int]]:
    """A family that loves outdoor things on weekend mornings and reading on weekday
    evenings, and nothing else: the learner must find the crossing."""
    outdoor = [i for i in ITEMS if "outdoor" in i.categories][:30]
    reading = [i for i in ITEMS if "reading" in i.categories][:30]
    rows = []
    for _ in range(n):
        daytype, part = rng.choice([("weekend", "morning"), ("weekday", "evening")])
        loved = outdoor if daytype == "weekend" else reading
        other = reading if daytype == "weekend" else outdoor
        shown = rng.sample(loved, 1) + rng.sample(other, 4)
        rows += [(_moment(daytype, part), item, int(item in loved)) for item in shown]
    return rows


def test_the_learner_learns_tastes_that_depend_on_the_moment() -> None:
    rng = random.Random(3)
    learner = fit_learner(_rows(40, rng))
    test = _rows(30, random.Random(4))
    right = sum((learner.logit(m, i) > 0) == bool(y) for m, i, y in test)
    assert right / len(test) > 0.9
    again = ContextualLearner.from_json(learner.to_json())  # plain JSON, same scores
    m, item, _ = test[0]
    assert math.isclose(again.logit(m, item), learner.logit(m, item), abs_tol=1e-3)
    assert fit_learner([(m, item, 1)]).weights == {}  # one class: nothing to learn
    with pytest.raises(ValueError):
        ContextualLearner.from_json({"weights": {"x": float("nan")}})


def test_the_tree_learner_finds_an_interaction_and_scores_as_scikit_learn_does() -> None:
    """A young child alone loves energetic things in the morning; at any other moment, and
    for the parent always, calm ones win: only the crossing of who, when and what tells."""
    from sklearn.ensemble import GradientBoostingClassifier

    rng = random.Random(5)
    kid, adult = Member("k", "child", 6), Member("p", "parent", 40)
    high = [i for i in ITEMS if i.energy == "high"][:40]
    low = [i for i in ITEMS if i.energy == "low"][:40]

    def rows(n: int) -> list[tuple[Moment, Any, float, int]]:
        out = []
        for _ in range(n):
            who, part = rng.choice([kid, adult]), rng.choice(["morning", "evening"])
            loved = high if who is kid and part == "morning" else low
            other = low if loved is high else high
            moment = Moment("tuesday", "weekday", part, None, (), (who,))
            shown = rng.sample(loved, 1) + rng.sample(other, 4)
            out += [(moment, i, rng.random(), int(i in loved)) for i in shown]
        return out

    train, test = rows(120), rows(40)
    schema = Schema.of([m for m, *_ in train], ITEMS)
    trees = fit_trees(train, schema)
    right = 0
    for n in range(0, len(test), 5):  # each slate of five: is the loved one scored highest?
        slate = test[n : n + 5]
        scores = trees.logits(slate[0][0], [i for _, i, _, _ in slate],
                              {i.id: g for _, i, g, _ in slate})  # fmt: skip
        right += slate[int(np.argmax(scores))][3]
    assert right / (len(test) / 5) > 0.9
    # The JSON trees score exactly as scikit-learn's model fitted the same way.
    import json

    again = TreeLearner.from_json(json.loads(json.dumps(trees.to_json())))
    x = np.asarray([schema.row(m, i, g) for m, i, g, _ in train], dtype=np.float32)
    model = GradientBoostingClassifier(learning_rate=0.05, n_estimators=150, max_leaf_nodes=15,
                                       min_samples_leaf=10, subsample=0.8, random_state=0)
    model.fit(x, [y for *_, y in train])
    m, i, g, _ = test[0]
    ours = again.logits(m, [i], {i.id: g})[0]
    theirs = float(model.decision_function(np.asarray([schema.row(m, i, g)], np.float32))[0])
    assert math.isclose(ours, theirs, abs_tol=1e-4)
    assert "topic:nature" in trees.to_json()["features"]
    assert fit_trees(train[:10], schema).trees == ()  # too few rows: nothing fitted
    assert TreeLearner.empty().logits(m, [i, i], {}) == [0.0, 0.0]
    bad = trees.to_json()
    bad["trees"][0]["left"][0] = 0  # a loop
    with pytest.raises(ValueError):
        TreeLearner.from_json(bad)
    bad = trees.to_json()
    bad["trees"][0]["feature"][0] = 10_000  # a column that does not exist
    with pytest.raises(ValueError):
        TreeLearner.from_json(bad)


def test_blend_weights_are_non_negative_and_the_guard_falls_back() -> None:
    rng = np.random.default_rng(0)
    cases = []
    for _ in range(40):
        ids = [f"i{j}" for j in range(6)]
        choice = int(rng.integers(6))
        good = [1.0 if j == choice else 0.0 for j in range(6)]
        noise = list(rng.normal(size=6))
        parts = [{"general": noise[j], "learner": good[j] + 0.1 * noise[j], "lora": -good[j]}
                 for j in range(6)]  # fmt: skip
        cases.append(Case(parts, ids, frozenset({ids[choice]}), ids[choice]))
    blend = fit_blend(cases, ("general", "learner", "lora"))
    assert all(w >= 0 for w in blend.weights.values())
    assert blend.weights["learner"] > blend.weights["lora"]  # the anti-correlated part gets ~0
    assert hit_rate(blend, cases) > hit_rate(Blend.general_only(), cases)
    # A part that helped early and misleads later does worse out of fold (fitted on one
    # half in time, judged on the other): the blend falls back to the general engine.
    shifty = []
    for n, c in enumerate(cases):
        early = n < len(cases) // 2
        parts = [{"general": p["general"] if early else p["learner"],
                  "learner": p["learner"] if early else -p["learner"]} for p in c.parts]
        shifty.append(Case(parts, c.ids, c.chosen, c.choice))  # fmt: skip
    fallback = fit_blend(shifty, ("general", "learner"))
    assert fallback.weights == {"general": 1.0} and "out of fold" in fallback.rule
    assert fit_blend(cases[:3], ("general", "learner")).rule.startswith("general only")
    # The fit starts from the tree learner (it reads the general engine's score already),
    # and an empty part (every candidate scored alike) is left out: then the general engine.
    treesy = [Case([{**p, "trees": p["learner"]} for p in c.parts], c.ids, c.chosen, c.choice)
              for c in cases]  # fmt: skip
    fitted = fit_blend(treesy, ("general", "trees"))
    assert fitted.weights["trees"] > 1.0 > fitted.weights["general"]
    flat = [Case([{**p, "trees": 0.0} for p in c.parts], c.ids, c.chosen, c.choice)
            for c in cases]  # fmt: skip
    assert "trees" not in fit_blend(flat, ("general", "trees")).weights
    # When the fitted blend fails out of fold but the trees alone (out of sample as they
    # are) do not fall behind the general engine, the trees alone serve.
    misled = []
    for n, c in enumerate(cases):
        sign = 3.0 if n < len(cases) // 2 else -3.0
        good = [1.0 if i == c.choice else 0.0 for i in c.ids]
        noisy = [0.8 * g + p["general"] for g, p in zip(good, c.parts, strict=True)]
        misled.append(Case([{"general": x, "trees": x, "learner": sign * g}
                            for g, x in zip(good, noisy, strict=True)],
                           c.ids, c.chosen, c.choice))  # fmt: skip
    alone = fit_blend(misled, ("general", "learner", "trees"))
    assert alone.weights == {"trees": 1.0} and alone.rule.startswith("tree learner alone")
    assert standardized([2.0, 2.0]) == [0.0, 0.0]


def test_metrics() -> None:
    assert hit_at(["a", "b", "c", "d"], "c") == 1.0 and hit_at(["a", "b", "c", "d"], "d") == 0.0
    assert ndcg_at(["a", "b"], "a") == 1.0
    assert math.isclose(ndcg_at(["a", "b"], "b"), 1 / math.log2(3))
    assert reciprocal_rank(["a", "b"], "b") == 0.5 and reciprocal_rank(["a"], "z") == 0.0
    lo, hi = wilson(50, 100)
    assert 0.40 < lo < 0.41 and 0.59 < hi < 0.60
    mean, lo, hi = paired_bootstrap([1.0] * 30 + [0.0] * 10, [0.0] * 30 + [1.0] * 10)
    assert mean == 0.5 and lo > 0 and hi <= 1
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [1.0, 0.0])


def _view(n: int, item: str, outcome: str, at: datetime, ctx: dict[str, Any],
          member: str = "child-emma", rating: int | None = None) -> InteractionView:  # fmt: skip
    return InteractionView(n, "smith-family", member, item, outcome, rating, at, ctx, None)


def test_slates_keep_every_shown_item_and_split_in_time_order() -> None:
    profile = _profile()
    start = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    history = []
    safe = [i.id for i in ITEMS if i.content_rating == "G" and i.min_age <= 5][:40]
    for s in range(40):
        at = start + timedelta(days=s)
        ctx = {"at": at.isoformat(), "familyMembers": ["child-emma", "mom-sarah"],
               "environmentalFactors": ["home"]}  # fmt: skip
        shown = safe[s % 8 : s % 8 + 5]
        for j, item in enumerate(shown):
            outcome = "accepted" if (j == 2 and s % 4) else "dismissed"
            history.append(_view(len(history) + 1, item, outcome, at + timedelta(seconds=j), ctx))
    history.append(_view(999, safe[0], "accepted", start, {"at": start.isoformat()}))
    history[-1] = InteractionView(999, "other-family", "x", safe[0], "accepted", None, start,
                                  {"at": start.isoformat()}, None)  # never another family's
    slates = build_slates(profile, history, ITEMS)
    assert len(slates) == 40 and all(len(s.shown) == 5 for s in slates)
    assert [s.at for s in slates] == sorted(s.at for s in slates)
    assert sum(1 for s in slates if s.choice is None) == 10  # nothing chosen is a slate too
    assert all(len(s.rows()) == 5 and sum(y for _, y in s.rows()) <= 1 for s in slates)
    parts = split(slates)
    assert parts.train and parts.validation and parts.holdout
    assert max(s.at for s in parts.train) < min(s.at for s in parts.validation)
    assert max(s.at for s in parts.validation) < min(s.at for s in parts.holdout)
    assert len(parts.holdout) == 20  # extended towards 30 choices, never past half


def test_reasons_come_from_the_family_history_without_names() -> None:
    item = next(i for i in ITEMS if "outdoor" in i.categories and i.topics)
    sat = datetime(2026, 11, 28, 9, 30).astimezone()  # a Saturday morning, local time
    ctx: dict[str, Any] = {}
    history = [_view(1, item.id, "completed", sat, ctx),
               _view(2, item.id, "accepted", sat - timedelta(days=7), ctx)]  # fmt: skip
    moment = _moment("weekend", "morning")
    reasons = list(candidate_reasons(item, moment, history, BY_ID, now=sat + timedelta(days=2)))
    assert reasons[0] == f"You loved {item.title} last Saturday morning."
    topic = item.topics[0].replace("_", " ").capitalize()
    assert f"{topic} has been a hit on weekend mornings." in reasons
    assert all("emma" not in r.lower() for r in reasons)
    assert list(candidate_reasons(item, moment, [], BY_ID)) == []


def test_ranker_spec_round_trips_and_old_versions_cannot_rank() -> None:
    spec = RankerSpec(ContextualLearner({"*|c:outdoor": 2.0}, 0.0, 10),
                      Blend({"general": 1.0, "learner": 3.0}), 12)  # fmt: skip
    again = RankerSpec.from_manifest({"ranker": spec.to_json()})
    assert again is not None and again.candidates == 12
    assert again.blend.weights == spec.blend.weights
    assert RankerSpec.from_manifest({"examples": 3}) is None  # made before rankers
    with pytest.raises(ValueError):
        RankerSpec.from_manifest({"ranker": {**spec.to_json(), "blend": {"weights": {"x": 1}}}})
    items = [*[i for i in ITEMS if "outdoor" not in i.categories][:4],
             next(i for i in ITEMS if "outdoor" in i.categories)]  # fmt: skip
    general = {i.id: -n for n, i in enumerate(items)}
    order = rank(spec, _moment("weekend", "morning"), items, general, None)
    assert order[0].item_id == items[-1].id  # the learner lifts what the family loves
    with pytest.raises(ValueError):  # a blend that needs the LoRA scorer gets one
        rank(RankerSpec(spec.learner, Blend({"lora": 1.0})), _moment("weekend", "morning"),
             items, general, None)  # fmt: skip


def test_pointwise_scoring_shares_the_prefix_and_matches_a_full_evaluation(
    template_home: Path,
) -> None:
    """llama.cpp evaluates the moment's prefix once and each candidate after it; each margin
    equals the one read after evaluating prefix + suffix from scratch."""
    from engine.domain.home import Famtune
    from engine.inference.llama_service import LlamaService
    from engine.ranker.prompts import NO, YES

    ft = Famtune(template_home, profile="development")
    record = ft.last_base_model()
    ft.close()
    assert record is not None
    moment = _moment("weekend", "morning", ("a", "b"))
    suffixes = [suffix(i) for i in ITEMS[:4]]
    with LlamaService(Path(record.path), n_threads=1) as llama:
        shared = llama.score_answers(prefix(moment), suffixes, (YES, NO))
        yes, no = (llama.tokenize(a)[-1] for a in (YES, NO))
        for text, margin in zip(suffixes, shared.margins, strict=True):
            llama.clear_kv_cache()
            logits = llama.next_token_logits(prefix(moment) + text)
            # (batches of other sizes round a little differently in llama.cpp)
            assert math.isclose(margin, float(logits[yes] - logits[no]), abs_tol=0.1)
        assert not shared.stopped_by_deadline and len(shared.margins) == 4
        late = llama.score_answers(prefix(moment), suffixes, (YES, NO), deadline_s=0.0)
        assert late.stopped_by_deadline and len(late.margins) < 4
