"""The parental PIN keypad: large digits, dots for what was typed, a message line, and a
pause (with a countdown) while the engine makes the next try wait."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from famtune_gui.theme import icon, restyle, role

MIN_DIGITS, MAX_DIGITS = 4, 8
MESSAGE_W = 400


class PinPad(QWidget):
    """Emits ``submitted(pin)`` when OK is tapped with 4 to 8 digits."""

    submitted = Signal(str)

    def __init__(
        self,
        title: str = "Enter the parental PIN",
        parent: QWidget | None = None,
        *,
        side_by_side: bool = False,
    ) -> None:
        """``side_by_side``: the keys right of the title, dots and message (for a page with
        little height, such as a set-up step at 1024x600)."""
        super().__init__(parent)
        self._digits = ""
        self._wait_left = 0
        self._wait_text = ""
        outer = QHBoxLayout(self) if side_by_side else QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(24 if side_by_side else 6)
        layout = QVBoxLayout()
        layout.setSpacing(6)
        outer.addLayout(layout, 1 if side_by_side else 0)
        self.title = QLabel(title)
        role(self.title, "subtitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.dots = QLabel()
        role(self.dots, "pin-dots")
        self.dots.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = QLabel(" ")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # room for three lines, always: the keys must not move when a message appears
        self.message.setMinimumWidth(MESSAGE_W)
        self.message.setFixedHeight(3 * self.message.fontMetrics().lineSpacing() + 8)
        layout.addWidget(self.title)
        layout.addWidget(self.dots)
        layout.addWidget(self.message)
        grid = QGridLayout()
        grid.setSpacing(8)
        self.keys: dict[str, QPushButton] = {}
        for i, key in enumerate("123456789"):
            self._key(grid, key, i // 3, i % 3)
        back = self._key(grid, "back", 3, 0)
        back.setText("")
        back.setIcon(icon("backspace"))
        back.setIconSize(QSize(36, 36))
        back.setAccessibleName("Delete the last digit")
        self._key(grid, "0", 3, 1)
        ok = self._key(grid, "ok", 3, 2)
        ok.setText("OK")
        role(ok, "key-ok")
        row = QWidget()
        row.setLayout(grid)
        if side_by_side:
            layout.addStretch(1)
            outer.addWidget(row, 0, Qt.AlignmentFlag.AlignTop)
        else:
            layout.addWidget(row, 0, Qt.AlignmentFlag.AlignHCenter)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._tick)
        self._show()

    def _key(self, grid: QGridLayout, key: str, row: int, col: int) -> QPushButton:
        button = QPushButton(key)
        role(button, "key")
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.clicked.connect(lambda: self.press(key))
        grid.addWidget(button, row, col)
        self.keys[key] = button
        return button

    @property
    def entered(self) -> str:
        return self._digits

    def press(self, key: str) -> None:
        """A tap on a key (also what tests call)."""
        if self._wait_left > 0:
            return
        if key == "back":
            self._digits = self._digits[:-1]
        elif key == "ok":
            if len(self._digits) >= MIN_DIGITS:
                pin, self._digits = self._digits, ""
                self._show()
                self.submitted.emit(pin)
                return
            self.set_message(f"A PIN has {MIN_DIGITS} to {MAX_DIGITS} digits.", error=True)
        elif key.isdigit() and len(self._digits) < MAX_DIGITS:
            self._digits += key
        self._show()

    def type_pin(self, pin: str) -> None:
        """Tap each digit, then OK."""
        for digit in pin:
            self.press(digit)
        self.press("ok")

    def clear(self) -> None:
        self._digits = ""
        self._show()

    def set_message(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text or " ")
        role(self.message, "error" if error else "muted")
        restyle(self.message)

    def pause(self, seconds: int, text: str) -> None:
        """Refuse taps for ``seconds`` (the engine's back-off), counting down."""
        self._wait_left = max(0, seconds)
        self._wait_text = text
        self._set_keys_enabled(self._wait_left == 0)
        if self._wait_left:
            self._timer.start()
        self._tick(count=False)

    @property
    def paused(self) -> bool:
        return self._wait_left > 0

    def _tick(self, count: bool = True) -> None:
        if count:
            self._wait_left = max(0, self._wait_left - 1)
        if self._wait_left <= 0:
            self._timer.stop()
            self._set_keys_enabled(True)
            self.set_message(self._wait_text if not count else "You can try again now.")
            return
        minutes, seconds = divmod(self._wait_left, 60)
        left = f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
        self.set_message(f"{self._wait_text}\nTry again in {left}.", error=True)

    def _set_keys_enabled(self, enabled: bool) -> None:
        for button in self.keys.values():
            button.setEnabled(enabled)

    def _show(self) -> None:
        shown = "●" * len(self._digits) + "○" * max(0, MIN_DIGITS - len(self._digits))
        self.dots.setText(shown)


class PinTwice:
    """Choosing a new PIN on ``pad``: typed once, then again to confirm. Two different PINs
    start over, with a message; the words of each step are the caller's (``first_title``,
    ``again_title``). The caller feeds what the pad submits to :meth:`entered`. Used wherever
    a PIN is chosen: the first PIN, changing it, recovering it, the set-up step."""

    AGAIN = "Enter the new PIN again"
    DIFFERENT = "The two PINs were different. Start again."

    def __init__(self, pad: PinPad, first_title: str, again_title: str = AGAIN) -> None:
        self.pad = pad
        self.first_title = first_title
        self.again_title = again_title
        self._first: str | None = None

    @property
    def confirming(self) -> bool:
        """The first PIN is typed; the next one must be the same."""
        return self._first is not None

    def entered(self, pin: str) -> str | None:
        """The chosen PIN when ``pin`` confirms the first one, else None (the pad now asks for
        it again, or to start over). The first PIN is kept after a match, so that typing it
        once more retries when what the caller did with it failed; :meth:`start_over` or
        :meth:`forget` ends that."""
        if self._first is None:
            self._first = pin
            self.pad.setEnabled(True)
            self.pad.title.setText(self.again_title)
            self.pad.set_message("")
            return None
        if pin != self._first:
            self._first = None
            self.pad.setEnabled(True)
            self.pad.title.setText(self.first_title)
            self.pad.set_message(self.DIFFERENT, error=True)
            return None
        return pin

    def forget(self) -> None:
        """Forget the first PIN (the pad's words stay)."""
        self._first = None

    def start_over(self) -> None:
        """Forget the first PIN and ask for one with the first step's words."""
        self._first = None
        self.pad.title.setText(self.first_title)
