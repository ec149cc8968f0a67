"""Family models: the active version and its scores, what the model is waiting for, the
versions kept, and the actions (train now with live progress, cancel, roll back, delete,
validate all)."""

from __future__ import annotations

from functools import partial
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine import app as actions
from engine.app import VersionInfo
from famtune_gui.fmt import local, score, when
from famtune_gui.qtmodels import ObjectListModel
from famtune_gui.session import EngineSession
from famtune_gui.theme import kinetic, restyle, role
from famtune_gui.training_view import TrainingUpdate, describe, eta_text
from famtune_gui.widgets.charts import StepChart
from famtune_gui.widgets.dialogs import ConfirmDialog

INTRO = (
    "Your family model is famtune's small language model, trained on this device with only "
    "your family's taps, so it learns which ideas your family enjoys. Keep tapping Let's do "
    "it, Not now, Done and the stars on Home: it trains when there is enough, and a new "
    "version is used only when it picks at least as well and passes every safety check."
)


def version_label(v: VersionInfo) -> str:
    state = {"active": "active", "rejected": "not used", "inactive": "kept"}.get(v.status, v.status)
    return (
        f"v{v.version} · {state} · {local(v.last_updated).strftime('%d %b, %H:%M')}\n"
        f"score {score(v.performance_score)} · safety {score(v.safety_score)}"
    )


def status_of(overview: actions.ModelsOverview, training: bool) -> tuple[str, str]:
    """(text, style) of the family model's state."""
    if training:
        return "Training now…", "status-info"
    newest = overview.versions[-1] if overview.versions else None
    if newest is not None and newest.status == "rejected":
        return (
            f"Version {newest.version} was not used: {newest.reason or 'it did not pass'}",
            "status-bad",
        )
    if overview.active is not None:
        return f"Active: version {overview.active.version}", "status-good"
    if not overview.personalization:
        return "Personalization is off (Parents → PIN & switches)", "status-info"
    return (
        f"Learning from your taps: {overview.since_last_model} of {overview.needed} so far",
        "status-info",
    )


class TrainingPanel(QFrame):
    """Progress bar, phase, ETA and the live loss curve of the running job."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        role(self, "panel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(6)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.phase = QLabel("No training running.")
        self.phase.setWordWrap(True)
        self.eta = QLabel(" ")
        role(self.eta, "small")
        self.chart = StepChart("Training loss", "loss")
        layout.addWidget(self.progress)
        layout.addWidget(self.phase)
        layout.addWidget(self.eta)
        layout.addWidget(self.chart, 1)
        self.updates: list[TrainingUpdate] = []

    def started(self) -> None:
        self.updates = []
        self.chart.clear()
        self.progress.setRange(0, 0)  # busy until the first step
        self.phase.setText("Starting…")
        self.eta.setText(" ")

    def apply(self, update: TrainingUpdate) -> None:
        self.updates.append(update)
        if update.fraction is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(update.fraction * 1000))
            self.progress.setFormat(f"{update.fraction * 100:.0f}%")
        if update.loss is not None:
            self.chart.append(len(self.chart.points) + 1, update.loss)
        if update.eta_s is not None:
            self.eta.setText(eta_text(update.eta_s))
        self.phase.setText(update.message)

    def ended(self, how: str) -> None:
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1000)
        if how == "cancelled":
            self.phase.setText("Training cancelled. The current model keeps serving.")
        elif how == "failed":
            self.phase.setText("Training stopped with an error. The current model keeps serving.")
        self.eta.setText(" ")


class ModelsScreen(QWidget):
    title = "Family model"

    def __init__(self, session: EngineSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.overview: actions.ModelsOverview | None = None
        self.versions: ObjectListModel[VersionInfo] = ObjectListModel(version_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(8)

        summary = QFrame()
        role(summary, "panel")
        box = QVBoxLayout(summary)
        box.setContentsMargins(12, 8, 12, 8)
        box.setSpacing(2)
        self.intro = QLabel(INTRO)
        self.intro.setWordWrap(True)
        box.addWidget(self.intro)
        self.status = QLabel(" ")
        role(self.status, "status-info")
        self.status.setWordWrap(True)
        self.details = QLabel(" ")
        self.details.setWordWrap(True)
        self.details.hide()  # numbers: under "Details"
        role(self.details, "small")
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        self.details_button = QPushButton("Details ▸")
        self.details_button.setCheckable(True)
        self.details_button.setAccessibleName("Show or hide the numbers")
        status_row.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignBottom)
        box.addLayout(status_row)
        box.addWidget(self.details)
        layout.addWidget(summary)

        buttons_row = QHBoxLayout()
        self.train_button = QPushButton("Train now")
        role(self.train_button, "primary")
        self.cancel_button = QPushButton("Cancel training")
        self.rollback_button = QPushButton("Use this version")
        self.delete_button = QPushButton("Delete models")
        role(self.delete_button, "danger")
        self.validate_button = QPushButton("Check all")
        for button in (
            self.train_button,
            self.cancel_button,
            self.rollback_button,
            self.delete_button,
            self.validate_button,
        ):
            buttons_row.addWidget(button)
        buttons_row.addStretch(1)
        layout.addLayout(buttons_row)

        body = QHBoxLayout()
        self.list = QListView()
        self.list.setModel(self.versions)
        self.list.setFixedWidth(340)
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        kinetic(self.list)
        self.training = TrainingPanel()
        body.addWidget(self.list)
        body.addWidget(self.training, 1)
        self.numbers = QWidget()  # the Details fold: versions, scores, the loss curve
        self.numbers.setLayout(body)
        body.setContentsMargins(0, 0, 0, 0)
        self.numbers.hide()
        layout.addWidget(self.numbers, 1)
        self.progress_line = QLabel(" ")  # the plain progress, while the fold is closed
        self.progress_line.setWordWrap(True)
        layout.addWidget(self.progress_line)
        layout.addStretch(0)

        self.train_button.clicked.connect(self.train)
        self.cancel_button.clicked.connect(session.cancel_training)
        self.rollback_button.clicked.connect(self.confirm_rollback)
        self.delete_button.clicked.connect(self.confirm_delete)
        self.validate_button.clicked.connect(self.validate)
        self.details_button.toggled.connect(self.show_details)
        self.list.clicked.connect(lambda _i: self._buttons())
        session.family_selected.connect(lambda _f: self.refresh())
        session.training_event.connect(self._event)
        session.training_ended.connect(self._ended)
        session.interaction_recorded.connect(lambda _f: self.refresh())
        session.personalization_changed.connect(lambda _on: self.refresh())
        self._buttons()
        self.refresh()

    def on_shown(self) -> None:
        self.refresh()

    def show_details(self, shown: bool) -> None:
        """The Details fold: the versions with their scores and the training curve."""
        self.numbers.setVisible(shown)
        self.details.setVisible(shown)
        self.progress_line.setVisible(not shown)
        self.details_button.setText("Details ▾" if shown else "Details ▸")

    def refresh(self) -> None:
        family_id = self.session.family_id
        if not family_id:
            self.versions.set_items([])
            self.status.setText("No family yet.")
            self.details.setText(" ")
            self._buttons()
            return
        self.session.run(
            partial(actions.models_overview, self.session.facade, family_id),
            self._show,
            owner=self,
            what="reading the family models",
        )

    def _show(self, overview: actions.ModelsOverview) -> None:
        if overview.family_id != self.session.family_id:
            return
        self.overview = overview
        self.versions.set_items(list(reversed(overview.versions)))
        text, style = status_of(overview, self._training_here())
        self.status.setText(text)
        role(self.status, style)
        restyle(self.status)
        active = overview.active
        parts = []
        if active is not None:
            parts.append(
                f"Version {active.version}, updated {when(active.last_updated)}. "
                f"Picks well {score(active.performance_score)} of the time "
                f"(general ideas: {score(active.baseline_score)}); "
                f"safety {score(active.safety_score)}."
            )
        parts.append(
            overview.data_note
            or f"{overview.since_last_model} new interactions since the last training; "
            f"training starts at {overview.needed}."
        )
        self.details.setText(" ".join(parts))
        self._buttons()

    def _training_here(self) -> bool:
        return self.session.training and self.session.training_family == self.session.family_id

    def selected(self) -> VersionInfo | None:
        index = self.list.currentIndex()
        return self.versions.item(index.row()) if index.isValid() else None

    def _buttons(self) -> None:
        has_family = bool(self.session.family_id)
        training = self.session.training
        self.train_button.setEnabled(has_family and not training)
        self.cancel_button.setEnabled(training)
        chosen = self.selected()
        # a version the evaluation gate refused is never put back into service from here
        self.rollback_button.setEnabled(
            chosen is not None and not chosen.is_active and chosen.status != "rejected"
        )
        self.delete_button.setEnabled(bool(self.versions.items()) and not training)

    # -- training ------------------------------------------------------------------------------

    def train(self) -> None:
        family_id = self.session.family_id
        # Not forced: below minInteractionsForTraining (or the retraining threshold) the
        # engine answers with a plain sentence instead of training on a handful of taps.
        if family_id and self.session.start_training(family_id, force=False) is not None:
            self.training.started()
            self.status.setText("Training now…")
            role(self.status, "status-info")
            restyle(self.status)
        self._buttons()

    def _event(self, family_id: str, event: Any) -> None:
        if family_id == self.session.family_id:
            update = describe(event)
            self.training.apply(update)
            if update.fraction is not None:
                eta = eta_text(update.eta_s)
                self.progress_line.setText(
                    f"Training now: {update.fraction * 100:.0f}% done"
                    + (f", {eta}." if eta else ".")
                )
            if update.kind == "outcome":
                self.session.notify(
                    update.message, "ok" if (update.outcome or {}).get("activated") else "info"
                )

    def _ended(self, family_id: str, how: str) -> None:
        if family_id == self.session.family_id:
            self.training.ended(how)
            self.progress_line.setText(
                self.training.phase.text() if how != "finished" else "Training finished."
            )
        self._buttons()
        self.refresh()

    # -- parent actions ------------------------------------------------------------------------

    def confirm_rollback(self) -> ConfirmDialog | None:
        chosen = self.selected()
        family_id = self.session.family_id
        if chosen is None or not family_id:
            return None
        dialog = ConfirmDialog(
            f"Use version {chosen.version}?",
            f"The family model goes back to version {chosen.version} "
            f"(score {score(chosen.performance_score)}). You can switch "
            "again later.",
            "Use it",
            parent=self,
        )
        dialog.accepted.connect(lambda: self.rollback(family_id, chosen.version))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def rollback(self, family_id: str, version: int) -> None:
        def done(info: VersionInfo) -> None:
            self.session.notify(f"Version {info.version} is active.")
            self.refresh()

        self.session.run(
            partial(actions.rollback, self.session.facade, family_id, version),
            done,
            owner=self,
            what="switching the model version",
        )

    def confirm_delete(self) -> ConfirmDialog | None:
        family_id = self.session.family_id
        if not family_id:
            return None
        dialog = ConfirmDialog(
            "Delete the family's models?",
            "Every trained version is removed; ideas come from the general "
            "engine until the next training. Taps are kept.",
            "Delete",
            danger=True,
            parent=self,
        )
        dialog.accepted.connect(lambda: self.delete(family_id))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def delete(self, family_id: str) -> None:
        def done(_removed: bool) -> None:
            self.session.notify("Family models deleted.")
            self.refresh()

        self.session.run(
            partial(actions.delete_models, self.session.facade, family_id),
            done,
            owner=self,
            what="deleting the models",
        )

    def validate(self) -> None:
        self.validate_button.setEnabled(False)
        self.validate_button.setText("Checking…")

        def done(results: dict[str, bool]) -> None:
            settle()
            bad = [f for f, ok in results.items() if not ok]
            if not results:
                self.session.notify("No active family models to check.", "info")
            elif bad:
                self.session.notify(
                    "Check failed for: "
                    + ", ".join(bad)
                    + ". Those families get general ideas until fixed.",
                    "error",
                )
            else:
                self.session.notify(f"All {len(results)} active models passed the check.")

        def settle() -> None:
            self.validate_button.setEnabled(True)
            self.validate_button.setText("Check all")

        def failed(exc: BaseException) -> None:
            settle()
            self.session.report(exc, "checking the models")

        self.session.run(
            partial(actions.validate_all, self.session.facade),
            done,
            failed,
            lane="model",
            owner=self,
            what="checking the models",
        )
