"""Parental controls, part 2: privacy level, data export and erase (with confirmation and the
PIN), and the audit log viewer with its chain check."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine import app as actions
from engine.app import AUDIT_EVENT_TYPES, ChainReport, FamilyProfile, member_name
from famtune_gui.audit_words import details_words, event_words
from famtune_gui.pin_prompt import ask_pin
from famtune_gui.qtmodels import OBJECT_ROLE, AuditTableModel
from famtune_gui.session import EngineSession
from famtune_gui.theme import kinetic, restyle, role
from famtune_gui.widgets.dialogs import ConfirmDialog
from famtune_gui.widgets.pickers import ChoiceButton, Segmented


def caption(text: str) -> QLabel:
    label = QLabel(text)
    role(label, "small")
    label.setWordWrap(True)
    return label


class PrivacyAndData(QWidget):
    def __init__(self, session: EngineSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 12, 4)
        layout.setSpacing(8)
        layout.addWidget(caption("Privacy level for what famtune writes down about taps"))
        self.privacy = Segmented([("standard", "Standard"), ("strict", "Strict: no free text")])
        layout.addWidget(self.privacy)
        layout.addSpacing(8)
        layout.addWidget(caption("Everything stored about this family, as one JSON file"))
        self.export_button = QPushButton("Export the family's data…")
        layout.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addSpacing(8)
        layout.addWidget(
            caption(
                "Erase: removes the profile entries, taps and family models "
                "for good. It cannot be undone."
            )
        )
        row = QHBoxLayout()
        self.erase_scope = ChoiceButton([("", "The whole family")])
        self.erase_button = QPushButton("Erase…")
        role(self.erase_button, "danger")
        row.addWidget(self.erase_scope)
        row.addWidget(self.erase_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(1)
        self.privacy.changed.connect(self.set_privacy)
        self.export_button.clicked.connect(self._choose_export)
        self.erase_button.clicked.connect(self.confirm_erase)
        session.profile_loaded.connect(self._profile)
        if session.profile is not None:
            self._profile(session.profile)

    def _profile(self, profile: FamilyProfile) -> None:
        self.erase_scope.set_options(
            [("", "The whole family")]
            + [(m.user_id, f"Only {member_name(m)}") for m in profile.members]
        )
        self.session.run(
            partial(actions.get_privacy_level, self.session.ft, profile.family_id),
            self.privacy.set_value,
            owner=self,
            what="reading the privacy level",
        )

    def set_privacy(self, level: str) -> None:
        family_id = self.session.family_id
        if not family_id:
            return
        self.session.run(
            partial(actions.set_privacy_level, self.session.ft, family_id, level),
            lambda now: self.session.notify(f"Privacy level: {now}."),
            owner=self,
            what="changing the privacy level",
        )

    def _choose_export(self) -> None:
        family_id = self.session.family_id
        if not family_id:
            return
        stamp = datetime.now().strftime("%Y%m%d")
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export the family's data",
            str(Path.home() / f"{family_id}-{stamp}.json"),
            "JSON (*.json)",
        )
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        family_id = self.session.family_id
        if family_id:
            self.session.run(
                partial(actions.export_data, self.session.ft, family_id, path),
                lambda done: self.session.notify(f"Exported to {done.path}."),
                owner=self,
                what="exporting the data",
            )

    def confirm_erase(self) -> ConfirmDialog | None:
        family_id = self.session.family_id
        if not family_id:
            return None
        member = self.erase_scope.value() or None
        name = next(
            (
                member_name(m)
                for m in (self.session.profile.members if self.session.profile else [])
                if m.user_id == member
            ),
            member,
        )
        who = (
            f"everything stored about {name}"
            if member
            else f"the whole {family_id} family and everything stored about it"
        )
        dialog = ConfirmDialog(
            "Erase data?",
            f"This erases {who}. It cannot be undone.",
            "Erase",
            danger=True,
            parent=self,
        )
        dialog.accepted.connect(
            lambda: ask_pin(
                self.session, self, "Erase data", lambda pin: self.erase(family_id, member, pin)
            )
        )
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def erase(self, family_id: str, member: str | None, pin: str) -> None:
        def erased(summary: dict[str, Any]) -> None:
            self.session.notify(
                f"Erased {summary.get('interactions', 0)} taps and "
                f"{summary.get('modelVersions', 0)} model versions."
            )
            self.session.refresh_families()

        self.session.run(
            partial(
                actions.erase_data, self.session.ft, family_id, member, pin, self.session.clock()
            ),
            erased,
            owner=self,
            what="erasing data",
        )


class AuditLog(QWidget):
    def __init__(self, session: EngineSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.model = AuditTableModel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.filter = ChoiceButton(
            [("", "All events")] + [(t, event_words(t)) for t in AUDIT_EVENT_TYPES]
        )
        self.refresh_button = QPushButton("Refresh")
        self.verify_button = QPushButton("Verify chain")
        self.result = QLabel()
        self.result.setWordWrap(True)
        row.addWidget(self.filter)
        row.addWidget(self.refresh_button)
        row.addWidget(self.verify_button)
        row.addWidget(self.result, 1)
        layout.addLayout(row)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(44)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        kinetic(self.table)
        layout.addWidget(self.table, 1)
        self.details = QLabel("Tap an event to see all its details.")
        self.details.setWordWrap(True)
        role(self.details, "small")
        layout.addWidget(self.details)
        self.table.clicked.connect(self._show_details)
        self.filter.changed.connect(lambda _v: self.refresh())
        self.refresh_button.clicked.connect(self.refresh)
        self.verify_button.clicked.connect(self.verify)

    def refresh(self) -> None:
        event_type = self.filter.value() or None
        self.session.run(
            partial(actions.list_audit, self.session.ft, event_type),
            self.model.set_events,
            owner=self,
            what="reading the audit log",
        )

    def _show_details(self, index: QModelIndex) -> None:
        event = self.model.data(index, OBJECT_ROLE)
        if event is not None:
            details = details_words(dict(event.details or {})) or "no details"
            self.details.setText(f"{event_words(event.event_type)}: {details}")

    def verify(self) -> None:
        self.result.setText("Checking…")
        self.session.run(
            partial(actions.verify_audit, self.session.ft),
            self._verified,
            owner=self,
            what="checking the audit log",
        )

    def _verified(self, report: ChainReport) -> None:
        if report.ok:
            self.result.setText(f"Intact: {report.events_checked} events, none changed.")
            role(self.result, "status-good")
        else:
            self.result.setText(f"Broken at event {report.first_bad_id}: {report.reason}.")
            role(self.result, "status-bad")
        restyle(self.result)
