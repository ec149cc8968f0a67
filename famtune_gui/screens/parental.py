"""Parental controls, behind the PIN: content and time limits, privacy and data, the audit
log, the PIN itself and the personalization switch. The gate unlocks them for one visit;
leaving the screen, or two minutes without a tap, locks them again."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine import app as actions
from engine.app import FamilyProfile, PinCheck
from engine.base.errors import ValidationFailed
from famtune_gui.fmt import field_words, plain_error
from famtune_gui.pin_prompt import ask_pin
from famtune_gui.recovery import open_recovery, show_code
from famtune_gui.screens.parental_data import AuditLog, PrivacyAndData
from famtune_gui.screens.parental_safety import ContentLimits, TimeLimits, scroll
from famtune_gui.session import EngineSession
from famtune_gui.theme import icon, role
from famtune_gui.widgets.dialogs import PinDialog
from famtune_gui.widgets.keypad import PinPad, PinTwice
from famtune_gui.widgets.pickers import Switch


class PinGate(QWidget):
    """The keypad in front of the controls. With no PIN set yet, it asks for a new one twice."""

    def __init__(self, session: EngineSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 8)
        self.pad = PinPad()
        self.twice = PinTwice(self.pad, "Choose a parental PIN (4 to 8 digits)")
        layout.addWidget(self.pad, 0, Qt.AlignmentFlag.AlignHCenter)
        self.forgot_button = QPushButton("Forgot the PIN?")
        layout.addWidget(self.forgot_button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)
        self.pad.submitted.connect(self.submit)
        self.forgot_button.clicked.connect(lambda: open_recovery(self.session, self))
        session.pin_state_changed.connect(lambda _s: self.reset())
        self.reset()

    def reset(self) -> None:
        self.twice.forget()
        self.pad.clear()
        self.forgot_button.setVisible(self.session.pin_set)
        if self.session.pin_set:
            self.pad.title.setText("Parents only: enter the PIN")
            if not self.pad.paused:
                self.pad.set_message("")
        else:
            self.twice.start_over()
            self.pad.set_message("It protects safety settings, data erasure and kiosk exit.")

    def submit(self, pin: str) -> None:
        if not self.session.pin_set:
            self._choose(pin)
            return
        self.pad.setEnabled(False)
        self.session.run(
            partial(actions.check_pin, self.session.ft, pin, self.session.clock()),
            self._checked,
            self._failed,
            owner=self,
            what="checking the PIN",
        )

    def _checked(self, result: PinCheck) -> None:
        self.pad.setEnabled(True)
        if result.ok:
            self.pad.set_message("")
            self.session.lock.unlock()
        elif result.retry_after_s > 0:
            self.pad.pause(result.retry_after_s, result.message)
        else:
            self.pad.set_message(result.message, error=True)

    def _failed(self, exc: BaseException) -> None:
        self.pad.setEnabled(True)
        self.pad.set_message(plain_error(exc, "checking the PIN"), error=True)

    def _choose(self, entered: str) -> None:
        pin = self.twice.entered(entered)
        if pin is None:
            return

        def done(code: str) -> None:
            self.session.set_pin_state(True)
            self.session.lock.unlock()
            self.session.notify("Parental PIN set.")
            show_code(code, self)

        self.session.run(
            partial(actions.set_pin_with_code, self.session.ft, pin, self.session.clock()),
            done,
            self._failed,
            owner=self,
            what="setting the PIN",
        )


class Switches(QWidget):
    """Personalization on or off, changing the PIN, locking now."""

    def __init__(self, session: EngineSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 12, 4)
        layout.setSpacing(8)
        text = QLabel(
            "Personalization: learn from this family's taps and use its own model. "
            "Off: every idea comes from the general engine."
        )
        text.setWordWrap(True)
        role(text, "small")
        layout.addWidget(text)
        self.personalization = Switch("Personalization: on", "Personalization: off")
        self.personalization.setChecked(session.personalization)
        layout.addWidget(self.personalization, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addSpacing(12)
        self.change_pin_button = QPushButton("Change the PIN…")
        layout.addWidget(self.change_pin_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addSpacing(12)
        code_text = QLabel(
            "The recovery code sets a new PIN when the PIN is forgotten. "
            "A new code replaces the old one."
        )
        code_text.setWordWrap(True)
        role(code_text, "small")
        layout.addWidget(code_text)
        self.recovery_button = QPushButton("Make a new recovery code…")
        layout.addWidget(self.recovery_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        self.recovery_button.clicked.connect(self.new_recovery_code)
        self.personalization.clicked.connect(self.session.set_personalization)
        session.personalization_changed.connect(self.personalization.setChecked)
        self.change_pin_button.clicked.connect(self.change_pin)

    def new_recovery_code(self) -> None:
        self.session.run(
            partial(actions.new_recovery_code, self.session.ft),
            self._show_code,
            owner=self,
            what="making a new recovery code",
        )

    def _show_code(self, code: str) -> None:
        show_code(code, self)

    def change_pin(self) -> None:
        ask_pin(self.session, self, "Change the PIN", self._new_pin, unlock=False)

    def _new_pin(self, current: str) -> None:
        dialog = PinDialog("Change the PIN", "Enter the new PIN", parent=self)
        twice = PinTwice(dialog.pad, "Enter the new PIN")

        def entered(typed: str) -> None:
            pin = twice.entered(typed)
            if pin is None:
                return

            def changed(_new: bool) -> None:
                dialog.accept()
                self.session.notify("PIN changed.")

            self.session.run(
                partial(actions.set_pin, self.session.ft, pin, current, self.session.clock()),
                changed,
                lambda exc: dialog.refused(plain_error(exc)),
                owner=dialog,
                what="changing the PIN",
            )

        dialog.pin_entered.connect(entered)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()


class ParentalScreen(QWidget):
    title = "Parental controls"

    def __init__(self, session: EngineSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        self.stack = QStackedWidget()
        layout.addWidget(self.stack)
        self.gate = PinGate(session)
        self.stack.addWidget(self.gate)

        content = QWidget()
        col = QVBoxLayout(content)
        col.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget()
        self.limits = ContentLimits()
        self.time_limits = TimeLimits()
        self.data = PrivacyAndData(session)
        self.audit = AuditLog(session)
        self.switches = Switches(session)
        self.tabs.addTab(scroll(self.limits), "Content")
        self.tabs.addTab(scroll(self.time_limits), "Time limits")
        self.tabs.addTab(scroll(self.data), "Privacy && data")
        self.tabs.addTab(self.audit, "Audit log")
        self.tabs.addTab(scroll(self.switches), "PIN && switches")
        self.lock_button = QPushButton("Lock")
        self.lock_button.setIcon(icon("lock"))
        self.lock_button.setIconSize(QSize(26, 26))
        col.addWidget(self.tabs, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.lock_button)
        self.error = QLabel()
        role(self.error, "error")
        self.error.setWordWrap(True)
        self.revert_button = QPushButton("Undo changes")
        self.save_button = QPushButton("Save safety settings")
        role(self.save_button, "primary")
        bottom.addWidget(self.error, 1)
        bottom.addWidget(self.revert_button)
        bottom.addWidget(self.save_button)
        col.addLayout(bottom)
        self.stack.addWidget(content)
        self.content = content

        self.safety: dict[str, Any] = {}
        self.dirty = False
        self.limits.set_cap(
            session.ft.config.max_content_rating_cap if session.initialized else "PG-13"
        )
        self.limits.changed.connect(self._edited)
        self.time_limits.changed.connect(self._edited)
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.revert)
        self.lock_button.clicked.connect(session.lock.lock)
        self.tabs.currentChanged.connect(self._tab)
        session.lock.changed.connect(self._lock_changed)
        session.profile_loaded.connect(self._profile)
        session.vocabulary_loaded.connect(lambda v: self.limits.set_suggestions(v.sensitive))
        self.limits.set_suggestions(session.vocabulary.sensitive)
        session.load_vocabulary()
        if session.profile is not None:
            self._profile(session.profile)
        self._lock_changed(session.lock.unlocked)

    def on_shown(self) -> None:
        self.gate.reset()
        self._lock_changed(self.session.lock.unlocked)

    def on_hidden(self) -> None:
        self.session.lock.lock()

    def _lock_changed(self, unlocked: bool) -> None:
        self.stack.setCurrentWidget(self.content if unlocked else self.gate)
        if unlocked and self.tabs.currentWidget() is self.audit:
            self.audit.refresh()

    def _tab(self, index: int) -> None:
        if self.tabs.currentWidget() is self.audit:
            self.audit.refresh()
        editing = index in (0, 1)  # content and time limits are saved with the button
        self.save_button.setVisible(editing)
        self.revert_button.setVisible(editing)

    # -- safety settings -----------------------------------------------------------------------

    def _profile(self, profile: FamilyProfile) -> None:
        if self.dirty:
            return
        self.safety = copy.deepcopy(profile.to_json().get("safetySettings", {}))
        self.limits.load(self.safety)
        self.time_limits.load(list(self.safety.get("timeRestrictions", [])))
        self._set_dirty(False)

    def _edited(self) -> None:
        self._set_dirty(True)

    def _set_dirty(self, dirty: bool) -> None:
        self.dirty = dirty
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)
        if not dirty:
            self.error.clear()

    def revert(self) -> None:
        self._set_dirty(False)
        if self.session.profile is not None:
            self._profile(self.session.profile)

    def settings(self) -> dict[str, Any]:
        safety = copy.deepcopy(self.safety)
        self.limits.dump_into(safety)
        safety["timeRestrictions"] = copy.deepcopy(self.time_limits.windows)
        return safety

    def save(self) -> None:
        profile = self.session.profile
        if profile is None:
            return
        doc = profile.to_json()
        doc["safetySettings"] = self.settings()
        self.error.clear()

        def action() -> None:
            self.session.run(
                partial(self._prepare_and_save, doc),
                self._saved,
                self._refused,
                owner=self,
                what="saving the safety settings",
            )

        self._guarded(action)

    def _prepare_and_save(self, doc: dict[str, Any]) -> FamilyProfile:
        change = actions.prepare_profile(self.session.ft, doc)
        return actions.save_profile(self.session.ft, change.profile)

    def _guarded(self, action: Callable[[], None]) -> None:
        """Saving needs the PIN: the gate unlocked it for this visit; ask again if it has
        locked itself since."""
        if self.session.lock.unlocked or not self.session.pin_set:
            action()
        else:
            ask_pin(self.session, self, "Saving safety changes", lambda _pin: action())

    def _saved(self, profile: FamilyProfile) -> None:
        self._set_dirty(False)
        self.session.profile_saved(profile)
        self.session.notify("Safety settings saved.")

    def _refused(self, exc: BaseException) -> None:
        if isinstance(exc, ValidationFailed):
            where = field_words(exc.field.removeprefix("safetySettings."))
            self.error.setText(f"{where}: {exc.detail}" if where else exc.detail)
            self.session.notify("Not saved: " + plain_error(exc), "error")
        else:
            self.session.report(exc, "saving the safety settings")
