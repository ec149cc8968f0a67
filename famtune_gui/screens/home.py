"""Home: who is here, the current moment, and recommendation cards to act on.

The moment (part of the day, day of the week) follows the clock until a parent picks another
one: then it is pinned, says so, and "Back to now" lets it follow the clock again. Who is here
stays as tapped when the moment changes."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from engine import app as actions
from engine.app import (
    DAYS,
    LOW_MEMORY_REASON,
    TIMES_OF_DAY,
    WEEKEND_DAYS,
    Batch,
    Fallback,
    FamilyProfile,
    Recommendation,
    Source,
    day_of_week_for,
    member_name,
    time_of_day_for,
)
from famtune_gui.fmt import words
from famtune_gui.qtmodels import ObjectListModel
from famtune_gui.session import EngineSession
from famtune_gui.theme import restyle, role
from famtune_gui.widgets.avatar import AvatarButton
from famtune_gui.widgets.cards import CardList, RecommendationCard
from famtune_gui.widgets.chips import ChipGroup, FlowLayout
from famtune_gui.widgets.pickers import ChoiceButton

FACTORS = (
    ("home", "Home"),
    ("away", "Away"),
    ("sunny", "Sunny"),
    ("rain", "Rain"),
    ("snow", "Snow"),
    ("weekend", "Weekend"),
    ("guests", "Guests"),
)
FACTOR_SETS = (frozenset({"home", "away"}), frozenset({"sunny", "rain", "snow"}))
STALE_S = 600
N_IDEAS = 5
CLOCK_CHECK_MS = 30_000
DEMO_NOTE = "This is the demo family. To set up your own: Family → New family."


class HomeScreen(QWidget):
    title = "Ideas for now"

    def __init__(self, session: EngineSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.model: ObjectListModel[Recommendation] = ObjectListModel(lambda r: r.title)
        self.avatars: list[AvatarButton] = []
        self.last_batch: Batch | None = None
        self._request = 0
        self._refreshed_at: datetime | None = None
        self._defaults_for: str = ""
        self.pinned = False  # the parent chose a moment other than now
        self.note: str | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(8)

        top = QHBoxLayout()
        self.who = QWidget()
        self.who_flow = FlowLayout(self.who, spacing=4)
        self.who.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.time_choice = ChoiceButton([(t, words(t)) for t in TIMES_OF_DAY])
        self.day_choice = ChoiceButton([(d, words(d)) for d in DAYS])
        self.refresh_button = QPushButton("New ideas")
        role(self.refresh_button, "primary")
        self.now_button = QPushButton("Back to now")
        self.now_button.setAccessibleName("The moment is pinned; tap to follow the clock again")
        self.now_button.hide()
        top.addWidget(self.who, 1)
        top.addWidget(self.now_button, 0, Qt.AlignmentFlag.AlignVCenter)
        top.addWidget(self.time_choice, 0, Qt.AlignmentFlag.AlignVCenter)
        top.addWidget(self.day_choice, 0, Qt.AlignmentFlag.AlignVCenter)
        top.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addLayout(top)

        self.factors = ChipGroup(FACTORS, exclusive_sets=FACTOR_SETS)
        layout.addWidget(self.factors)

        self.status = QLabel(" ")
        role(self.status, "small")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        self.cards = CardList(self.model)
        layout.addWidget(self.cards, 1)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(400)
        self._debounce.timeout.connect(self.refresh)

        self._clock = QTimer(self)
        self._clock.setInterval(CLOCK_CHECK_MS)
        self._clock.timeout.connect(self.follow_clock)
        self._clock.start()

        self.refresh_button.clicked.connect(self.refresh)
        self.now_button.clicked.connect(self.unpin)
        self.time_choice.changed.connect(self._moment_picked)
        self.day_choice.changed.connect(self._moment_picked)
        self.factors.changed.connect(self._debounce.start)
        self.cards.acted.connect(self._acted)
        session.profile_loaded.connect(self._profile_loaded)
        session.family_selected.connect(self._family_selected)
        session.personalization_changed.connect(lambda _on: self.refresh())
        session.families_changed.connect(
            lambda _refs: self._family_selected(session.family_id or "")
        )
        self.reset_context()
        if session.profile is not None:
            self._profile_loaded(session.profile)
        else:
            self._family_selected(session.family_id or "")

    # -- context -------------------------------------------------------------------------------

    def reset_context(self) -> None:
        """Time of day, day and the weekend chip from the clock; 'home' by default."""
        now = self.session.local_clock()
        self.time_choice.set_value(time_of_day_for(now.hour))
        day = day_of_week_for(now)
        self.day_choice.set_value(day)
        factors = [f for f in self.factors.values() if f != "weekend"] or ["home"]
        self.factors.set_values([*factors, *(["weekend"] if day in WEEKEND_DAYS else [])])
        self._defaults_for = self.time_choice.value() or ""
        self._set_pinned(False)

    def _clock_moment(self) -> tuple[str, str]:
        now = self.session.local_clock()
        return time_of_day_for(now.hour), day_of_week_for(now)

    def _moment_picked(self, _value: str) -> None:
        """A parent chose the time or the day: pinned unless it is simply now."""
        self._set_pinned(
            (self.time_choice.value(), self.day_choice.value()) != self._clock_moment()
        )
        self._debounce.start()

    def _set_pinned(self, pinned: bool) -> None:
        self.pinned = pinned
        self.now_button.setVisible(pinned)
        self.time_choice.setProperty("pinned", pinned)
        self.time_choice.setToolTip("Pinned: not following the clock" if pinned else "")

    def unpin(self) -> None:
        """Back to now: the moment follows the clock again."""
        self.reset_context()
        self.refresh()

    def follow_clock(self) -> None:
        """Unless pinned, move to the clock's moment when it has changed (and refresh)."""
        if self.pinned:
            return
        if (self.time_choice.value(), self.day_choice.value()) != self._clock_moment():
            self.reset_context()
            self.refresh()

    def present(self) -> list[str]:
        return [a.member_id for a in self.avatars if a.isChecked()]

    def context(self) -> dict[str, Any]:
        return {
            "timeOfDay": self.time_choice.value(),
            "dayOfWeek": self.day_choice.value(),
            "familyMembers": self.present(),
            "environmentalFactors": self.factors.values(),
            "at": self.session.local_clock().astimezone(),
        }

    def _presence_key(self) -> str:
        return f"presence/{self.session.family_id}"

    def _apply_presence(self) -> None:
        saved = self.session.prefs.get(self._presence_key())
        wanted = set(saved) if isinstance(saved, list) and saved else None
        for avatar in self.avatars:
            avatar.setChecked(wanted is None or avatar.member_id in wanted)

    def _presence_changed(self) -> None:
        self.session.prefs.set(self._presence_key(), self.present())
        self._debounce.start()

    # -- family --------------------------------------------------------------------------------

    def _family_selected(self, family_id: str) -> None:
        if family_id and self.session.profile is None:
            self.model.set_items([])
            self.cards.set_empty_text("Loading your family…")
            return
        if not family_id:
            self._set_members(None)
            self.model.set_items([])
            self.cards.set_empty_text(
                "No family yet. Open Family to import a profile or load the demo family."
                if self.session.families_known
                else "Loading your family…"
            )
            self.status.setText(" ")

    def _profile_loaded(self, profile: FamilyProfile) -> None:
        self._set_members(profile)
        self.refresh()

    def _set_members(self, profile: FamilyProfile | None) -> None:
        for avatar in self.avatars:
            avatar.deleteLater()
        self.avatars = []
        while self.who_flow.count():
            self.who_flow.takeAt(0)
        if profile is None:
            return
        for member in profile.members:
            avatar = AvatarButton(member.user_id, member_name(member))
            avatar.clicked.connect(self._presence_changed)
            self.who_flow.addWidget(avatar)
            self.avatars.append(avatar)
        self._apply_presence()

    # -- recommendations -----------------------------------------------------------------------

    def on_shown(self) -> None:
        now = self.session.local_clock()
        moved = not self.pinned and (
            (self.time_choice.value(), self.day_choice.value()) != self._clock_moment()
        )
        if moved:
            self.reset_context()
        stale = self._refreshed_at is None or (now - self._refreshed_at).total_seconds() > STALE_S
        if moved or stale:
            self.refresh()

    def refresh(self) -> None:
        self._debounce.stop()
        family_id = self.session.family_id
        if not family_id or self.session.profile is None:
            return
        members = self.present()
        if not members:
            self.model.set_items([])
            self.cards.set_empty_text("Tap who is here to get ideas.")
            self.status.setText(" ")
            return
        self._request += 1
        request = self._request
        context = self.context()
        target = members[0] if len(members) == 1 else None
        self.status.setText("Finding ideas…")
        self._refreshed_at = self.session.local_clock()
        self.session.run(
            partial(actions.recommend, self.session.facade, family_id, context, target, N_IDEAS),
            lambda ideas: self._show(request, ideas.batch, ideas.note),
            lambda exc: self._failed(request, exc),
            lane="model",
            owner=self,
            what="finding ideas",
        )

    def _show(self, request: int, batch: Batch, note: str | None = None) -> None:
        if request != self._request:
            return  # an older answer
        self.last_batch = batch
        self.note = note
        self.session.freeze_after("recommendations")  # the catalog and its indexes are loaded
        self.session.metrics.log("recommend.latency_ms", batch.latency_ms)
        if batch.tokens_per_s:
            self.session.metrics.log("inference.tokens_per_s", batch.tokens_per_s)
        self.cards.set_empty_text(
            f"{note} Nothing to suggest now: sleep well!"
            if note
            else "No safe ideas fit right now. Try another time or place."
        )
        self.model.set_items(batch.recommendations)
        if batch.source is Source.FAMILY_MODEL:
            text = f"Chosen by your family's own model (version {batch.model_version})."
        else:
            text = "General ideas, picked for your family's profile."
            if batch.fallback is Fallback.LOW_MEMORY:
                text += " " + LOW_MEMORY_REASON
            elif batch.fallback_reason:
                text += " The family model could not answer this time."
        if note:
            text = f"{note} {text}"
        if self.pinned:
            text = f"Pinned to {words(self.time_choice.value() or '').lower()}. {text}"
        if self.session.is_demo:
            text += " " + DEMO_NOTE
        role(self.status, "small")
        restyle(self.status)
        self.status.setText(text)

    def _failed(self, request: int, exc: BaseException) -> None:
        if request == self._request:
            self.status.setText("No ideas this time.")
            self.session.report(exc, "finding ideas")

    # -- taps on cards -------------------------------------------------------------------------

    def _acted(self, card: RecommendationCard, outcome: str, rating: int | None) -> None:
        family_id = self.session.family_id
        members = self.present()
        if not family_id or not members:
            return
        self.session.run(
            partial(
                actions.record,
                self.session.facade,
                family_id,
                members,
                card.rec.id,
                outcome,
                rating,
                self.context(),
            ),
            lambda _n: self._recorded(card, family_id, outcome),
            lambda exc: self._record_failed(card, exc),
            owner=card,
            what="saving what you chose",
        )

    def _recorded(self, card: RecommendationCard, family_id: str, outcome: str) -> None:
        card.mark(outcome)
        self.session.interaction_recorded.emit(family_id)
        self.session.maybe_train(family_id)

    def _record_failed(self, card: RecommendationCard, exc: BaseException) -> None:
        card.mark_failed()
        self.session.report(exc, "saving what you chose")
