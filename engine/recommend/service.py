"""The recommendation API: the family model when one is active, the general engine otherwise.

``RecommendationService.recommend`` is what the facade, the CLI and the GUI call. The way of a
request: profile and context -> safety pre-filter and ranking of the catalog (general engine)
-> if the family has an active model, llama.cpp with the family's adapter chooses among the
best candidates, constrained by a JSON schema -> every chosen item and every generated reason
is validated again -> cache. Any failure of the model path (missing or corrupt files, a
deadline, unparseable output) falls back to the general engine's answer, and the cause is
logged where ``famtune-engine status`` shows it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from engine.base.errors import FamtuneError, ModelFileError
from engine.db.tables import Family, Interaction, ModelVersion, Setting
from engine.domain import families
from engine.domain.catalog import Catalog, CatalogItem
from engine.domain.version_files import servable_adapter, version_file
from engine.general.ranking import (
    GeneralEngine,
    Scored,
    Taste,
    interests_of,
    learn_taste,
    to_recommendation,
)
from engine.general.recommendation import Recommendation, Source
from engine.recommend.family_model import lora_scorer
from engine.safety import SafetyValidator, parse_item
from engine.safety.validator import Audience, active_windows
from engine.schema.context import RequestContext, parse_context

if TYPE_CHECKING:
    from engine.domain.home import Famtune
    from engine.inference.llama_service import LlamaService
    from engine.ranker.family_ranker import RankerSpec

log = logging.getLogger(__name__)

ADAPTER_FILE = "adapter.gguf"
ENABLED_KEY = "personalization_enabled"
CANDIDATES_PER_SLOT = 3
CACHE_ENTRIES = 256
CACHE_TTL_S = 600.0
TOKENS_PER_PICK = 64  # an id and a reason of at most 120 characters
LOW_MEMORY_MB = 320.0
"""Below this much available memory the family model is not used: idle adapters, then the
llama.cpp context are freed first, and the general engine answers if that is not enough."""
LOW_MEMORY_REASON = "The device is short of memory, so general ideas are shown for now."


def available_mb() -> float:
    import psutil

    return float(psutil.virtual_memory().available) / 2**20


def inference_threads(config: Any) -> int:
    """The configured llama.cpp threads, never more than this machine's cores (more threads
    than cores makes generation collapse, measured on a 2-core machine)."""
    return max(1, min(int(config.inference_threads), os.cpu_count() or 1))


class Fallback(str, Enum):
    """Why the family model did not answer (the sentence is in ``Batch.fallback_reason``)."""

    LOW_MEMORY = "low-memory"
    MODEL_FAILED = "model-failed"


@dataclass(frozen=True)
class Batch:
    """One answer: the recommendations plus how it was made."""

    recommendations: list[Recommendation]
    source: Source
    model_version: int | None = None
    cache_hit: bool = False
    latency_ms: float = 0.0
    fallback_reason: str | None = None
    tokens_per_s: float | None = None
    fallback: Fallback | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "recommendations": [r.to_json() for r in self.recommendations],
            "source": self.source.value,
            "modelVersion": self.model_version,
            "cacheHit": self.cache_hit,
            "latencyMs": round(self.latency_ms, 2),
            "fallbackReason": self.fallback_reason,
        }


@dataclass
class _Cache:
    """A small LRU with a time limit. Keys carry every version the answer depends on."""

    entries: OrderedDict[tuple[Any, ...], tuple[float, Batch]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[Any, ...]) -> Batch | None:
        with self.lock:
            hit = self.entries.get(key)
            if hit is None or time.monotonic() - hit[0] > CACHE_TTL_S:
                return None
            self.entries.move_to_end(key)
            return hit[1]

    def put(self, key: tuple[Any, ...], batch: Batch) -> None:
        with self.lock:
            self.entries[key] = (time.monotonic(), batch)
            self.entries.move_to_end(key)
            while len(self.entries) > CACHE_ENTRIES:
                self.entries.popitem(last=False)

    def clear(self, family_id: str | None = None) -> None:
        with self.lock:
            for key in [k for k in self.entries if family_id is None or k[0] == family_id]:
                del self.entries[key]


def active_model(session: Session, family_id: str) -> ModelVersion | None:
    """The family's serving version, if any."""
    found: ModelVersion | None = session.exec(
        select(ModelVersion).where(ModelVersion.family_id == family_id, col(ModelVersion.is_active))
    ).first()
    return found


def personalization_enabled(session: Session) -> bool:
    row = session.get(Setting, ENABLED_KEY)
    return row is None or row.value != "false"


class RecommendationService:
    """Generates recommendations for one data directory. Thread-safe; share one per process."""

    def __init__(
        self,
        ft: Famtune,
        *,
        validator: SafetyValidator | None = None,
        llama: LlamaService | None = None,
        memory_mb: Callable[[], float] = available_mb,
    ) -> None:
        self.ft = ft
        self.memory_mb = memory_mb
        self.validator = validator or SafetyValidator(rating_cap=ft.config.max_content_rating_cap)
        self.general = GeneralEngine(self.validator)
        self.catalog = Catalog(ft)
        self.cache = _Cache()
        self._llama = llama
        self._llama_lock = threading.Lock()
        self._taste: dict[tuple[str, int, tuple[str, ...]], Taste] = {}
        self._rows: dict[str, tuple[int, list[Any]]] = {}
        self._specs: dict[tuple[str, int, str], RankerSpec] = {}

    # -- the API ------------------------------------------------------------------------------

    def recommend(
        self,
        family_id: str,
        context: RequestContext | dict[str, Any],
        target_member: str | None = None,
        *,
        n: int = 5,
        at: datetime | None = None,
    ) -> Batch:
        started = time.perf_counter()
        ctx = parse_context(context, path="context")
        if not 1 <= n <= 20:
            raise FamtuneError("n must be between 1 and 20")
        members = (target_member,) if target_member else ()
        with self.ft.db.read() as session:
            profile = families.get_profile(session, family_id=family_id)
            family = session.get(Family, family_id)
            interactions = session.exec(
                select(func.count(col(Interaction.id))).where(Interaction.family_id == family_id)
            ).one()
            model = active_model(session, family_id)
            enabled = personalization_enabled(session) and self.ft.config.enabled
        audience = self.validator.audience(profile, members, ctx.family_members)
        moment = at or ctx.at
        windows = tuple(f"{w.start_time}-{w.end_time}" for w, _ in active_windows(audience, moment))
        use_model = model if enabled else None
        key = (
            family_id,
            tuple(m.user_id for m in audience.members),
            ctx.bucket().key(),
            ctx.current_activity or "",
            windows,
            n,
            use_model.version if use_model else None,
            family.updated_at.isoformat() if family else "",
            self.catalog.version_token(),
            interactions,
        )
        cached = self.cache.get(key)
        if cached is not None:
            return replace(
                cached, cache_hit=True, latency_ms=(time.perf_counter() - started) * 1000
            )
        items = self.catalog.items()
        taste = self._family_taste(family_id, interactions, audience, items)
        ranked = self.general.rank(profile, ctx, items, members=members, taste=taste, at=moment)
        # Late on a school night only wind-down ideas are offered (or nothing), whichever
        # engine orders them: the family model re-ranks these candidates, never others.
        ranked = [s for s in ranked if s.parts.get("bedtime", 0.0) >= 0]
        interests = interests_of(audience.members)
        general = [
            to_recommendation(s, source=Source.GENERAL, context=ctx, interests=interests)
            for s in ranked[:n]
        ]
        batch = Batch(general, Source.GENERAL)
        if use_model is not None:
            batch = self._with_model(
                use_model,
                profile.preferences.communication_style,
                audience,
                ctx,
                ranked,
                general,
                n,
                interactions,
            )
        batch = replace(batch, latency_ms=(time.perf_counter() - started) * 1000)
        if batch.fallback is not Fallback.LOW_MEMORY:  # retried once memory is back
            self.cache.put(key, batch)
        return batch

    def invalidate(self, family_id: str | None = None) -> None:
        self.cache.clear(family_id)

    def close(self) -> None:
        with self._llama_lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None

    # -- the family model ---------------------------------------------------------------------

    def llama(self) -> LlamaService:
        """The llama.cpp service over the recorded base model, loaded once (mmap)."""
        with self._llama_lock:
            if self._llama is None:
                from engine.inference.llama_service import LlamaService

                record = self.ft.last_base_model()
                if record is None:
                    raise FamtuneError("no base model recorded; run 'famtune-engine init'")
                self._llama = LlamaService(
                    Path(record.path),
                    n_threads=self.ft.config.inference_threads,
                    seed=self.ft.config.seed,
                    expected_sha256=record.sha256,
                )
            return self._llama

    def _with_model(
        self,
        model: ModelVersion,
        style: str,
        audience: Audience,
        ctx: RequestContext,
        ranked: list[Scored],
        general: list[Recommendation],
        n: int,
        interactions: int,
    ) -> Batch:
        if not self._enough_memory():
            self.ft.log_event(
                "warning", "memory", f"{LOW_MEMORY_REASON} ({self.memory_mb():.0f} MB available)"
            )
            return Batch(
                general,
                Source.GENERAL,
                fallback_reason=LOW_MEMORY_REASON,
                fallback=Fallback.LOW_MEMORY,
            )
        try:
            picks, tokens_per_s = self._model_picks(
                model, style, audience, ctx, ranked, n, self._history(model.family_id, interactions)
            )
        except Exception as exc:  # any model failure: the general answer, with the cause
            cause = f"family model v{model.version} for {model.family_id}: {exc}"
            self.ft.log_event("error", "inference", cause)
            return Batch(
                general, Source.GENERAL, fallback_reason=str(exc), fallback=Fallback.MODEL_FAILED
            )
        chosen = {r.id for r in picks}
        filled = picks + [r for r in general if r.id not in chosen][: n - len(picks)]
        if len(filled) < n:
            filled += [
                to_recommendation(s, source=Source.GENERAL)
                for s in ranked
                if s.item.id not in {r.id for r in filled}
            ][: n - len(filled)]
        return Batch(
            filled, Source.FAMILY_MODEL, model_version=model.version, tokens_per_s=tokens_per_s
        )

    def _enough_memory(self) -> bool:
        """Graceful degradation: free idle adapters, then the llama.cpp model (it is reloaded
        on a later request), while less than ``LOW_MEMORY_MB`` is available."""
        if self.memory_mb() >= LOW_MEMORY_MB:
            return True
        with self._llama_lock:
            if self._llama is not None:
                freed = self._llama.unload_idle_adapters()
                log.info("memory low: freed %d idle adapters", freed)
        if self.memory_mb() >= LOW_MEMORY_MB:
            return True
        self.close()
        return self.memory_mb() >= LOW_MEMORY_MB

    def _model_picks(
        self,
        model: ModelVersion,
        style: str,
        audience: Audience,
        ctx: RequestContext,
        ranked: list[Scored],
        n: int,
        history: list[Any],
    ) -> tuple[list[Recommendation], float]:
        """The family model's ranking of the general engine's best safe candidates (see
        :mod:`engine.ranker.family_ranker`), each with a reason from the family's history."""
        from engine.ranker.family_ranker import rank
        from engine.ranker.moment import moment_of
        from engine.ranker.reasons import explain

        # A version that may not serve (rejected, unsafe, odd files) is refused first.
        adapter = servable_adapter(self.ft.data, model, self.ft.config.safety_threshold)
        spec = self._spec(model)
        candidates = ranked[: max(spec.candidates, n)]
        if not candidates:
            return [], 0.0
        by_id = {s.item.id: s for s in candidates}
        moment = moment_of(model.family_id, ctx,
                           [(m.user_id, m.role, m.age) for m in audience.members])  # fmt: skip
        lora = None
        if spec.blend.uses("lora"):
            lora = lora_scorer(self.llama(), adapter, self._adapter_sha256(model),
                               deadline_s=self.ft.config.inference_deadline_s)  # fmt: skip
        started = time.perf_counter()
        order = rank(spec, moment, [s.item for s in candidates],
                     {s.item.id: s.score for s in candidates}, lora)  # fmt: skip
        catalog = {s.item.id: s.item for s in ranked}
        interests = interests_of(audience.members)
        picks: list[Recommendation] = []
        for entry in order[:n]:
            scored = by_id[entry.item_id]
            fallback = to_recommendation(scored, source=Source.FAMILY_MODEL, context=ctx,
                                         interests=interests).reason  # fmt: skip
            item = scored.item

            def is_safe(text: str, item: CatalogItem = item) -> bool:
                return self._reason_is_safe(audience, item, text, ctx)

            reason = explain(item, moment, history=history, catalog=catalog, now=ctx.at,
                             is_safe=is_safe, fallback=fallback)  # fmt: skip
            picks.append(to_recommendation(scored, source=Source.FAMILY_MODEL, reason=reason,
                                           model_version=model.version, context=ctx,
                                           interests=interests))  # fmt: skip
        seconds = time.perf_counter() - started
        return picks, (len(candidates) / seconds if seconds > 0 else 0.0)

    def _spec(self, model: ModelVersion) -> RankerSpec:
        """The version's ranker from its manifest (read once per version)."""
        from engine.ranker.family_ranker import RankerSpec

        # The adapter's recorded sha256 tells a re-created version number apart.
        key = (model.family_id, model.version, model.adapter_sha256 or "")
        spec = self._specs.get(key)
        if spec is None:
            path = version_file(self.ft.data, model.family_id, model.version, "manifest.json")
            try:
                loaded = RankerSpec.from_manifest(json.loads(path.read_text()))
            except (OSError, ValueError) as exc:
                raise ModelFileError(f"version {model.version} has no readable ranker: {exc}") \
                    from None  # fmt: skip
            if loaded is None:
                raise ModelFileError(
                    f"version {model.version} was made by an older famtune and cannot rank; "
                    "train the family model again"
                )
            spec = loaded
            self._specs[key] = spec
        return spec

    def _history(self, family_id: str, count: int) -> list[Any]:
        """The family's interactions (clear columns only: no decryption), oldest first,
        read once per family and interaction count: the taste and the reasons share them."""
        cached = self._rows.get(family_id)
        if cached is not None and cached[0] == count:
            return cached[1]
        with self.ft.db.read() as session:
            rows = list(session.exec(
                select(Interaction)
                .where(Interaction.family_id == family_id)
                .order_by(col(Interaction.created_at))
                .options(defer(Interaction.payload))  # type: ignore[arg-type]
            ).all())  # fmt: skip
        if len(self._rows) > 64:
            self._rows.clear()
        self._rows[family_id] = (count, rows)
        return rows

    def _reason_is_safe(
        self, audience: Audience, item: CatalogItem, reason: str, ctx: RequestContext
    ) -> bool:
        doc = item.to_json()
        doc["reason"] = reason
        verdict = self.validator.judge(audience, parse_item(doc), active_windows(audience, ctx.at))
        return verdict.allowed

    def _adapter_sha256(self, model: ModelVersion) -> str:
        """The sha256 the version's manifest recorded for its adapter when it was published
        (kept in its row), once the version is known to fit the base model being served.
        The llama service compares it with the file, hashed once per path, size and mtime,
        before llama.cpp loads the adapter."""
        if not model.adapter_sha256:
            raise ModelFileError(
                f"version {model.version} has no recorded sha256 for its {ADAPTER_FILE}; "
                "it cannot be verified"
            )
        base = self.llama().base_sha256
        if model.base_sha256 and base and model.base_sha256 != base:
            raise ModelFileError(
                f"version {model.version} was trained over another base model (sha256 "
                f"{model.base_sha256[:12]}..., serving {base[:12]}...)"
            )
        return model.adapter_sha256

    def _family_taste(
        self, family_id: str, count: int, audience: Audience, items: list[CatalogItem]
    ) -> Taste:
        members = tuple(m.user_id for m in audience.members)
        key = (family_id, count, members)
        taste = self._taste.get(key)
        if taste is None:
            rows = self._history(family_id, count)
            taste = learn_taste(rows, {i.id: i for i in items}, members=members)
            if len(self._taste) > 64:
                self._taste.clear()
            self._taste[key] = taste
        return taste
