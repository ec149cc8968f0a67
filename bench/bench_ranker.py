"""Personalization: does the family model rank what the family will choose better than the
general engine, on families and moments it has not seen?

For each simulated family (``bench/ranker_lab.py``: tastes that depend on weekday/weekend,
the hour and who is present, and declared interests that are in truth disliked): a history
of 400 logged slates and 200 fresh held-out moments later in time, judged against the
simulator's hidden choice among the general engine's top 20 candidates. Scorers:

- random (expected value), the general engine (its own order);
- the two classical learners alone, each fitted on the whole history: ``classical`` (the
  contextual learner: logistic regression over context x item-word features) and ``trees``
  (gradient-boosted trees over the moment, the item and the general engine's score): the
  honest baselines;
- the base model scoring zero-shot (" Yes" minus " No", no adapter);
- the LoRA scorer alone (trained exactly as ``train`` does, on the training slates);
- the family model: the blend, built exactly as ``train`` builds it (time-ordered split,
  learner out of fold, blend fitted on the validation slice).

Each rate has a 95% interval (Wilson for hit rates, bootstrap for NDCG); the family model is
compared with the general engine and with the classical learner by a paired bootstrap on the
same moments. The learning curve repeats the family model and the general engine after 25,
50, 100, 200 and 400 slates (each held-out moment re-ranked by the general engine with the
history so far, on the first ``--curve-heldout`` moments); the LoRA scorer is trained at the
points ``--curve-lora`` names (25, 50 and 400 slates; the others blend the general engine and
the learner only). Writes a PNG of the curve with ``--plot``.

    python bench/bench_ranker.py [--families outdoorsy:1,...] [--heldout 200] [--json]
                                 [--curve 25,50,100,200,400] [--curve-lora 25,50,400]
                                 [--plot docs/learning-curve.png]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ranker_lab import CANDIDATES, Family, HeldOut, make_family  # noqa: E402
from engine.ranker.metrics import hit_at, mean_ci, ndcg_at, paired_bootstrap, wilson  # noqa: E402

DEFAULT_FAMILIES = "outdoorsy:11,bookish-artsy:12,sporty-competitive:13"
SCORERS = ("random", "general", "classical", "trees", "zero-shot", "lora", "family")


@dataclass
class Scores:
    """Per held-out moment: hit@1, hit@3 and NDCG@3 of one scorer."""

    hit1: list[float]
    hit3: list[float]
    ndcg3: list[float]


def score_orders(cases: list[HeldOut], orders: list[list[str]]) -> Scores:
    pairs = list(zip(cases, orders, strict=True))
    return Scores([hit_at(o, c.choice, 1) for c, o in pairs],
                  [hit_at(o, c.choice, 3) for c, o in pairs],
                  [ndcg_at(o, c.choice, 3) for c, o in pairs])  # fmt: skip


def by_score(ids: list[str], scores: list[float]) -> list[str]:
    order = sorted(range(len(ids)), key=lambda j: (-scores[j], j))
    return [ids[j] for j in order]


def prepare_home(work: Path) -> tuple[Path, Path, str]:
    """An initialized data dir with the training copy: (home, cache dir, base gguf path)."""
    from engine import basemodel
    from engine.domain.home import Famtune

    home = work / "home"
    ft = Famtune(home, profile="jetson")
    ft.initialize(demo=False, training_cache=True)
    record = ft.last_base_model()
    assert record is not None
    cache = basemodel.training_cache_dir(ft.data, record.sha256)
    ft.close()
    return home, cache, record.path


def train_scorer(cache: Path, examples: list[tuple[str, str]], out: Path) -> dict[str, Any]:
    """The LoRA scorer as ``train`` trains it (worker subprocess, jetson settings)."""
    from engine.base.config import FineTuningConfig
    from engine.personalize.pipeline import SCORER_MAX_TOKENS
    from engine.training.events import Done
    from engine.training.job import TrainJob
    from engine.training.trainer import run_training_subprocess

    config = FineTuningConfig()
    job = TrainJob.from_config(
        config, examples=examples, cache_dir=cache, out_dir=out, checkpoint_dir=out / "ckpt",
        objective="yes_no", lora_layers=config.scorer_layers,
        learning_rate=config.scorer_learning_rate, batch_size=config.scorer_batch_size,
        micro_batch_size=config.scorer_micro_batch_size,
        epochs=config.scorer_epochs, max_seq_length=SCORER_MAX_TOKENS,
        gradient_checkpointing=False, num_threads=os.cpu_count(),
    )  # fmt: skip
    done = None
    for event in run_training_subprocess(job, cancel=threading.Event()):
        if isinstance(event, Done):
            done = event
    if done is None:
        raise SystemExit("the scorer's training did not finish")
    return {"adapter": str(out / "adapter.gguf"), "steps": done.steps, "seconds": done.seconds,
            "peakRssMb": done.peak_rss_mb, "examples": len(examples)}  # fmt: skip


def margins(llama: Any, adapter: str | None, fam: Family, cases: list[HeldOut],
            ) -> list[list[float]]:  # fmt: skip
    from engine.ranker.prompts import NO, YES, prefix, suffix

    by_id = {i.id: i for i in fam.items}
    out = []
    for c in cases:
        suffixes = [suffix(by_id[i]) for i in c.candidates]
        path = Path(adapter) if adapter else None
        result = llama.score_answers(prefix(c.moment), suffixes, (YES, NO), adapter=path)
        out.append(result.margins)
    return out


def family_model(fam: Family, n: int, cases: list[HeldOut], llama: Any, cache: Path,
                 work: Path, lora: bool) -> dict[str, Any]:  # fmt: skip
    """Train the family model on the first ``n`` slates as ``train`` does; score ``cases``."""
    from engine.ranker.blend import fit_blend
    from engine.ranker.family_ranker import RankerSpec, rank
    from engine.ranker.slates import split
    from engine.ranker.training import fit_on, pointwise_examples, validation_cases
    from engine.recommend.family_model import lora_scorer

    by_id = {i.id: i for i in fam.items}
    parts = split(fam.slates[:n])
    oof = fit_on(parts.train, by_id)
    trained: dict[str, Any] = {}
    scorer = None
    if lora:
        trained = train_scorer(cache, pointwise_examples(parts.train, by_id),
                               work / f"{fam.name}-{n}")  # fmt: skip
        scorer = lora_scorer(llama, Path(trained["adapter"]), None)
    cases_v = validation_cases(parts.validation, by_id, oof, scorer)
    names = ("general", "learner", "trees", "lora") if lora else ("general", "learner", "trees")
    blend = fit_blend(cases_v, names)
    serving = fit_on(parts.train + parts.validation, by_id)
    spec = RankerSpec(serving.learner, blend, CANDIDATES, trees=serving.trees)
    lora_m = margins(llama, trained["adapter"], fam, cases) if lora else None
    orders, lora_orders = [], []
    for j, c in enumerate(cases):
        items = [by_id[i] for i in c.candidates]
        fixed = None if lora_m is None else lora_m[j]
        ranked = rank(spec, c.moment, items, c.general,
                      (lambda _p, _s, m=fixed: list(m)) if fixed is not None else None)  # fmt: skip
        orders.append([r.item_id for r in ranked])
        if fixed is not None:
            lora_orders.append(by_score(c.candidates, fixed))
    return {"family": score_orders(cases, orders),
            "lora": score_orders(cases, lora_orders) if lora_orders else None,
            "blend": blend.to_json(), "training": trained,
            "split": [len(parts.train), len(parts.validation), len(parts.holdout)]}


def moments_after(fam: Family, n: int) -> list[HeldOut]:
    """The held-out moments with candidates and choice as of a history of ``n`` slates."""
    from bench.ranker_lab import views
    from engine.general.ranking import GeneralEngine, learn_taste
    from engine.safety import SafetyValidator
    from engine.schema.context import parse_context

    if n >= len(fam.slates):
        return fam.heldout
    end = fam.slates[n - 1].at
    records = fam.sim.simulate(len(fam.slates) * 6)
    history = [h for h in views(records, fam.name) if h.created_at <= end]
    by_id = {i.id: i for i in fam.items}
    general = GeneralEngine(SafetyValidator())
    out = []
    for c in fam.heldout:
        ctx = parse_context({**c.context, "familyMembers": c.audience})
        taste = learn_taste(history, by_id, members=c.audience, now=ctx.at)
        top = general.rank(fam.profile, ctx, fam.items, members=c.audience, taste=taste,
                           at=ctx.at)[:CANDIDATES]  # fmt: skip
        ids = [s.item.id for s in top]
        out.append(replace(c, candidates=ids, general={s.item.id: s.score for s in top},
                           choice=fam.sim.hidden_choice(c.context, c.audience, ids)))  # fmt: skip
    return out


def rate(values: list[float], binary: bool = True) -> dict[str, Any]:
    mean = sum(values) / len(values) if values else 0.0
    lo, hi = wilson(sum(values), len(values)) if binary else mean_ci(values)
    return {"mean": round(mean, 4), "ci95": [round(lo, 4), round(hi, 4)]}


def summarize(scores: dict[str, Scores | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, s in scores.items():
        if s is not None:
            out[name] = {"hitAt1": rate(s.hit1), "hitAt3": rate(s.hit3),
                         "ndcgAt3": rate(s.ndcg3, binary=False)}  # fmt: skip
    return out


def run_family(spec: str, args: argparse.Namespace, llama: Any, cache: Path,
               work: Path) -> dict[str, Any]:  # fmt: skip
    archetype, seed = spec.split(":")
    started = time.monotonic()
    fam = make_family(archetype, int(seed), slates=args.slates,  # type: ignore[arg-type]
                      heldout=args.heldout)  # fmt: skip
    by_id = {i.id: i for i in fam.items}
    cases = fam.heldout
    k = CANDIDATES
    from engine.ranker.training import fit_on

    classical = fit_on(fam.slates, by_id)

    def learner_order(c: HeldOut) -> list[str]:
        learner = classical.learner
        return by_score(c.candidates, [learner.logit(c.moment, by_id[i]) for i in c.candidates])

    def trees_order(c: HeldOut) -> list[str]:
        items = [by_id[i] for i in c.candidates]
        return by_score(c.candidates, classical.trees.logits(c.moment, items, c.general))

    scores: dict[str, Scores | None] = {
        "general": score_orders(cases, [c.candidates for c in cases]),
        "classical": score_orders(cases, [learner_order(c) for c in cases]),
        "trees": score_orders(cases, [trees_order(c) for c in cases]),
    }
    zero = margins(llama, None, fam, cases)
    scores["zero-shot"] = score_orders(
        cases, [by_score(c.candidates, m) for c, m in zip(cases, zero, strict=True)]
    )
    main = family_model(fam, len(fam.slates), cases, llama, cache, work, lora=True)
    scores["lora"], scores["family"] = main["lora"], main["family"]
    fm, gen, cl, tr = scores["family"], scores["general"], scores["classical"], scores["trees"]
    assert fm is not None and gen is not None and cl is not None and tr is not None
    d_gen = paired_bootstrap(fm.hit3, gen.hit3, seed=1)
    d_cl = paired_bootstrap(fm.hit3, cl.hit3, seed=2)
    d_tr = paired_bootstrap(fm.hit3, tr.hit3, seed=3)
    curve = []
    for n in args.curve:
        at_n = cases if n >= len(fam.slates) else moments_after(fam, n)[: args.curve_heldout]
        if n >= len(fam.slates):
            point = main
        else:
            point = family_model(fam, n, at_n, llama, cache, work, lora=n in args.curve_lora)
        general_n = score_orders(at_n, [c.candidates for c in at_n])
        curve.append({"slates": n, "lora": n in args.curve_lora or n >= len(fam.slates),
                      "general": rate(general_n.hit3), "family": rate(point["family"].hit3),
                      "loraAlone": rate(point["lora"].hit3) if point["lora"] else None,
                      "blend": point["blend"]["weights"]})  # fmt: skip
    return {
        "family": fam.name, "archetype": archetype, "members": len(fam.profile.members),
        "slates": len(fam.slates), "heldout": len(cases), "candidates": k,
        "random": {"hitAt1": 1 / k, "hitAt3": 3 / k,
                   "ndcgAt3": round((1 + 1 / math.log2(3) + 0.5) / k, 4)},
        "scores": summarize(scores),
        "familyMinusGeneralHitAt3": [round(x, 4) for x in d_gen],
        "familyMinusClassicalHitAt3": [round(x, 4) for x in d_cl],
        "familyMinusTreesHitAt3": [round(x, 4) for x in d_tr],
        "relativeToGeneral": round(sum(fm.hit3) / max(1e-9, sum(gen.hit3)) - 1, 4),
        "blend": main["blend"], "training": main["training"], "split": main["split"],
        "curve": curve, "seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 3.4), sharey=True)
    for ax, row in zip([axes] if len(rows) == 1 else axes, rows, strict=True):
        xs = [p["slates"] for p in row["curve"]]
        for key, label, style in (("family", "family model", "o-"),
                                  ("general", "general engine", "s--")):  # fmt: skip
            ys = [p[key]["mean"] for p in row["curve"]]
            lo = [p[key]["ci95"][0] for p in row["curve"]]
            hi = [p[key]["ci95"][1] for p in row["curve"]]
            ax.plot(xs, ys, style, label=label)
            ax.fill_between(xs, lo, hi, alpha=0.15)
        ax.axhline(row["random"]["hitAt3"], color="grey", lw=0.8, ls=":", label="random")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_title(row["archetype"])
        ax.set_xlabel("logged slates")
    (axes if len(rows) == 1 else axes[0]).set_ylabel(f"hit@3 of {rows[0]['candidates']}, 95% CI")
    (axes if len(rows) == 1 else axes[0]).legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def render(rows: list[dict[str, Any]]) -> str:
    lines = ["| family | scorer | hit@1 | hit@3 (95% CI) | NDCG@3 |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['archetype']} | random | {r['random']['hitAt1']:.2f} | "
                     f"{r['random']['hitAt3']:.2f} | {r['random']['ndcgAt3']:.2f} |")  # fmt: skip
        for name in SCORERS[1:]:
            s = r["scores"].get(name)
            if s:
                h3 = s["hitAt3"]
                lines.append(f"| {r['archetype']} | {name} | {s['hitAt1']['mean']:.2f} | "
                             f"{h3['mean']:.2f} ({h3['ci95'][0]:.2f}-{h3['ci95'][1]:.2f}) | "
                             f"{s['ndcgAt3']['mean']:.2f} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=DEFAULT_FAMILIES)
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--slates", type=int, default=400)
    parser.add_argument("--curve-heldout", type=int, default=100,
                        help="held-out moments per earlier point of the curve")  # fmt: skip
    parser.add_argument("--curve", default="25,50,100,200,400")
    parser.add_argument("--curve-lora", default="25,50,400")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.curve = [int(x) for x in args.curve.split(",") if x]
    args.curve_lora = {int(x) for x in args.curve_lora.split(",") if x}
    from engine.inference.llama_service import LlamaService

    rows = []
    with tempfile.TemporaryDirectory(prefix="famtune-ranker-") as tmp:
        work = Path(tmp)
        _home, cache, base = prepare_home(work)
        with LlamaService(Path(base), n_threads=os.cpu_count() or 1) as llama:
            for spec in args.families.split(","):
                rows.append(run_family(spec, args, llama, cache, work))
                print(f"{spec}: done in {rows[-1]['seconds']} s", file=sys.stderr, flush=True)
    if args.plot:
        plot(rows, args.plot)
    print(json.dumps({"families": rows}, indent=2) if args.json else render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
