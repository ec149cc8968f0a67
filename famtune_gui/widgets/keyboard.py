"""The on-screen keyboard: keys the app draws itself, inside the window that holds the text
field (the main window, or a dialog).

No input method is involved, so it works wherever Qt can draw: as a Wayland client of cage
(where Qt's own virtual keyboard refuses to run), under X, offscreen. The keys never take
the focus; a tap sends the character to the focused field as a key press, so the field's own
rules (length limits, Return for OK) apply. The keyboard opens when a text field gets the
focus in a window that has one (``KeyboardHost``), and closes with its "Hide" key, when the
focus moves to something that is not a text field, or when the window closes.

Whether it is used at all is the application's ``famtune-keyboard`` property (``famtune
--keyboard on|off|auto``; auto: on in kiosk mode).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QApplication,
    QFrame,
    QGridLayout,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QWidget,
)

from famtune_gui.theme import role

LETTERS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
SYMBOLS = ("1234567890", "-/:;()&@'", ".,?!#+_")
PROPERTY = "famtune-keyboard"
KEY_W, KEY_H = 58, 50


def keyboard_enabled() -> bool:
    app = QApplication.instance()
    return bool(app is not None and app.property(PROPERTY))


def enable_keyboard(on: bool) -> None:
    """Switch the on-screen keyboard on or off for the whole app."""
    app = QApplication.instance()
    if app is None:
        return
    app.setProperty(PROPERTY, on)
    if on and isinstance(app, QApplication) and app.findChild(FocusWatcher) is None:
        watcher = FocusWatcher(app)
        app.focusChanged.connect(watcher.focus_changed)


class OnScreenKeyboard(QFrame):
    """Three rows of letters (or digits and signs) and a row of space, Shift, 123/ABC,
    delete, Hide and Enter. ``press(key)`` is what a tap does (also for tests)."""

    hidden = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        role(self, "keyboard")
        self.setObjectName("on-screen-keyboard")
        self.target: QLineEdit | None = None
        self.shift = False
        self.symbols = False
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(8, 8, 8, 8)
        self.grid.setSpacing(5)
        self.keys: dict[str, QPushButton] = {}
        self.char_keys: list[QPushButton] = []
        for row, chars in enumerate(LETTERS):
            offset = row  # a little stagger, like a real keyboard
            for col, _char in enumerate(chars):
                button = self._button("", 1)
                self.grid.addWidget(button, row, offset + col * 2, 1, 2)
                self.char_keys.append(button)
        shift = self._special("shift", "⇧ Shift")
        shift.setCheckable(True)
        self.grid.addWidget(shift, 2, 16, 1, 4)
        self.grid.addWidget(self._special("mode", "123"), 3, 0, 1, 3)
        self.grid.addWidget(self._special("space", "space"), 3, 3, 1, 9)
        self.grid.addWidget(self._special("back", "⌫"), 3, 12, 1, 2)
        self.grid.addWidget(self._special("hide", "Hide"), 3, 14, 1, 3)
        enter = self._special("enter", "Enter")
        role(enter, "kbd-enter")
        self.grid.addWidget(enter, 3, 17, 1, 3)
        self._label_keys()
        self.hide()

    def _button(self, text: str, _span: int) -> QPushButton:
        button = QPushButton(text)
        role(button, "kbd-key")
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.setMinimumSize(KEY_W // 2 + 10, KEY_H)
        button.setAutoRepeat(False)
        button.clicked.connect(lambda _=False, b=button: self.press(b.property("key")))
        return button

    def _special(self, key: str, text: str) -> QPushButton:
        button = self._button(text, 1)
        button.setProperty("key", key)
        button.setAccessibleName({"back": "Delete", "shift": "Shift"}.get(key, text))
        self.keys[key] = button
        return button

    def _label_keys(self) -> None:
        rows = SYMBOLS if self.symbols else LETTERS
        chars = "".join(rows)
        for button, char in zip(self.char_keys, chars.ljust(len(self.char_keys)), strict=True):
            shown = char.upper() if self.shift and not self.symbols else char
            button.setText(shown.replace("&", "&&"))
            button.setProperty("key", shown)
            button.setVisible(char != " ")
        self.keys["mode"].setText("ABC" if self.symbols else "123")
        self.keys["shift"].setEnabled(not self.symbols)
        self.keys["shift"].setChecked(self.shift)

    def key(self, char: str) -> QPushButton:
        """The button that types ``char`` now (or a special key: shift, mode, space, back,
        hide, enter)."""
        if char in self.keys:
            return self.keys[char]
        for button in self.char_keys:
            if button.property("key") == char and button.isVisible():
                return button
        raise KeyError(char)

    def attach(self, target: QLineEdit) -> None:
        self.target = target
        self.shift = False
        self.symbols = False
        self._label_keys()
        if self.isHidden():
            self.show()
            QTimer.singleShot(0, lambda: _reveal(target))

    def detach(self) -> None:
        self.target = None
        if not self.isHidden():
            self.hide()
            self.hidden.emit()

    def press(self, key: str) -> None:
        target = self.target
        if key == "hide":
            self.detach()
            return
        if key == "shift":
            self.shift = not self.shift
            self._label_keys()
            return
        if key == "mode":
            self.symbols = not self.symbols
            self.shift = False
            self._label_keys()
            return
        if target is None:
            return
        if key == "back":
            _send(target, Qt.Key.Key_Backspace, "")
        elif key == "enter":
            _send(target, Qt.Key.Key_Return, "\r")
        elif key == "space":
            _send(target, Qt.Key.Key_Space, " ")
        elif key:
            _send(target, Qt.Key.Key_unknown, key)
            if self.shift:
                self.shift = False
                self._label_keys()

    def type_text(self, text: str) -> None:
        """Tap the keys for ``text`` (letters, digits, signs and spaces), as a person would:
        Shift before a capital, 123 / ABC to switch."""
        for char in text:
            if char == " ":
                self.key("space").click()
                continue
            wants_symbols = char.lower() not in "".join(LETTERS)
            if wants_symbols != self.symbols:
                self.key("mode").click()
            if not wants_symbols and char.isupper() != self.shift:
                self.key("shift").click()
            self.key(char).click()


def _send(target: QWidget, key: Qt.Key, text: str) -> None:
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        QApplication.sendEvent(target, QKeyEvent(kind, key, Qt.KeyboardModifier.NoModifier, text))


def _reveal(field: QWidget) -> None:
    """Scroll the field into view once the keyboard has taken its space."""
    parent = field.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea) and isinstance(parent, QScrollArea):
            parent.ensureWidgetVisible(field, 20, 20)
            return
        parent = parent.parentWidget()


class KeyboardHost:
    """A window that shows the on-screen keyboard for its text fields (mixed into the main
    window and the touch dialogs): it owns ``keyboard`` and puts it in its layout."""

    keyboard: OnScreenKeyboard

    def keyboard_shown(self) -> None:
        """The keyboard opened (a dialog grows to hold it)."""

    def keyboard_hidden(self) -> None:
        """The keyboard closed."""


class FocusWatcher(QObject):
    """Opens the keyboard of the window that holds a newly focused text field; closes it when
    the focus moves elsewhere."""

    def focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        if not keyboard_enabled():
            return
        if isinstance(new, QLineEdit) and not new.isReadOnly():
            host = new.window()
            if isinstance(host, KeyboardHost):
                for other in _hosts():
                    if other is not host:
                        other.keyboard.detach()
                host.keyboard.attach(new)
                host.keyboard_shown()
                return
        if new is None:
            return  # the window lost the focus (another app, a dialog opening): keep it
        if isinstance(old, QLineEdit):
            host = old.window()
            if isinstance(host, KeyboardHost) and new.window() is host:
                host.keyboard.detach()


def _hosts() -> list[KeyboardHost]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, KeyboardHost)]
