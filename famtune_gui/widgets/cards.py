"""Recommendation cards: title, category, reason, a badge for where the idea came from, and
the buttons that teach famtune (accept, not now, done, 1-5 stars)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from engine.app import Recommendation, Source
from famtune_gui.fmt import words
from famtune_gui.qtmodels import ObjectListModel
from famtune_gui.theme import icon, kinetic, restyle, role

OUTCOME_TEXT = {
    "accepted": "Accepted: have fun!",
    "dismissed": "Not now: noted.",
    "completed": "Done: well done!",
    "rated": "Thanks for rating.",
}


def source_badge(rec: Recommendation) -> tuple[str, str]:
    """(text, style role) of the badge that says where a card came from."""
    if rec.source is Source.FAMILY_MODEL:
        version = f" v{rec.model_version}" if rec.model_version is not None else ""
        return f"Family model{version}", "badge-model"
    return "General ideas", "badge-general"


class StarRating(QWidget):
    """Five 48 px stars; a tap on star N emits ``rated(N)`` and fills 1..N."""

    rated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.stars: list[QPushButton] = []
        self._value = 0
        for n in range(1, 6):
            star = QPushButton()
            role(star, "star")
            star.setIconSize(QSize(36, 36))
            star.setFixedSize(QSize(48, 48))
            star.setAccessibleName(f"{n} star{'s' if n > 1 else ''}")
            star.clicked.connect(lambda _=False, v=n: self.rate(v))
            layout.addWidget(star)
            self.stars.append(star)
        self._show()

    def value(self) -> int:
        return self._value

    def rate(self, value: int) -> None:
        self._value = value
        self._show()
        self.rated.emit(value)

    def _show(self) -> None:
        for n, star in enumerate(self.stars, start=1):
            star.setIcon(icon("star-filled" if n <= self._value else "star"))


class RecommendationCard(QFrame):
    """One idea. ``acted(outcome, rating)``: outcome is accepted, dismissed, completed or rated."""

    acted = Signal(str, object)

    def __init__(self, rec: Recommendation, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rec = rec
        role(self, "card")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(6)

        top = QHBoxLayout()
        self.title = QLabel(rec.title)
        role(self.title, "subtitle")
        self.title.setWordWrap(True)
        badge_text, badge_role = source_badge(rec)
        self.badge = QLabel(badge_text)
        role(self.badge, badge_role)
        self.category = QLabel(words(rec.category))
        role(self.category, "badge-category")
        top.addWidget(self.title, 1)
        top.addWidget(self.category, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(top)

        self.reason = QLabel(rec.reason)
        self.reason.setWordWrap(True)
        layout.addWidget(self.reason)

        actions = QHBoxLayout()
        actions.setSpacing(8)
        self.accept = QPushButton("Let's do it")
        role(self.accept, "primary")
        self.dismiss = QPushButton("Not now")
        self.done = QPushButton("Done")
        self.done.setIcon(icon("check"))
        self.done.setIconSize(QSize(22, 22))
        self.stars = StarRating()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        role(self.status, "status-good")
        for button, outcome in (
            (self.accept, "accepted"),
            (self.dismiss, "dismissed"),
            (self.done, "completed"),
        ):
            button.clicked.connect(lambda _=False, o=outcome: self.acted.emit(o, None))
            actions.addWidget(button)
        actions.addWidget(self.status, 1)
        actions.addWidget(self.stars)
        self.stars.rated.connect(lambda n: self.acted.emit("rated", n))
        layout.addLayout(actions)

    def mark(self, outcome: str) -> None:
        """Show that the tap was recorded."""
        self.status.setText(OUTCOME_TEXT.get(outcome, "Saved."))
        role(self.status, "status-good")
        restyle(self.status)
        if outcome == "dismissed":
            role(self.reason, "muted")
            restyle(self.reason)

    def mark_failed(self) -> None:
        self.status.setText("Not saved")
        role(self.status, "status-bad")
        restyle(self.status)


class CardList(QScrollArea):
    """The cards of an ``ObjectListModel[Recommendation]``, rebuilt when the model resets."""

    acted = Signal(object, str, object)  # card, outcome, rating

    def __init__(
        self, model: ObjectListModel[Recommendation], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._body = QWidget()
        self._layout = QVBoxLayout(self._body)
        self._layout.setContentsMargins(0, 0, 8, 0)
        self._layout.setSpacing(10)
        self.empty = QLabel("")
        role(self.empty, "muted")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWidget(self._body)
        kinetic(self)
        self.cards: list[RecommendationCard] = []
        model.modelReset.connect(self._rebuild)
        self._rebuild()

    def set_empty_text(self, text: str) -> None:
        self.empty.setText(text)

    def _rebuild(self) -> None:
        for card in self.cards:
            card.deleteLater()
        self.cards = []
        while self._layout.count():
            self._layout.takeAt(0)
        for rec in self.model.items():
            card = RecommendationCard(rec)
            card.acted.connect(lambda o, r, c=card: self.acted.emit(c, o, r))
            self._layout.addWidget(card)
            self.cards.append(card)
        self.empty.setVisible(not self.cards)
        if not self.cards:
            self._layout.addWidget(self.empty)
        self._layout.addStretch(1)
        self.verticalScrollBar().setValue(0)
