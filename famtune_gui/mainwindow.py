"""The window: a navigation rail, a top bar (family, screen title, clock), a banner for
messages, and the screens (created the first time they are shown). In kiosk mode it is
full screen without decorations, refuses to close, leaves only with the parental PIN
(audited as ``kiosk_exit``) and dims itself after a while without a tap."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine import app as actions
from famtune_gui.idle import DimOverlay, IdleWatcher
from famtune_gui.pin_prompt import ask_pin
from famtune_gui.screens.firstrun import FirstRunScreen
from famtune_gui.session import EngineSession
from famtune_gui.theme import icon, role
from famtune_gui.widgets.keyboard import KeyboardHost, OnScreenKeyboard
from famtune_gui.widgets.pickers import ChoiceButton
from famtune_gui.widgets.toast import Banner

IDLE_DIM_MS = 120_000
TOPBAR_H = 64


def _home(session: EngineSession) -> QWidget:
    from famtune_gui.screens.home import HomeScreen

    return HomeScreen(session)


def _family(session: EngineSession) -> QWidget:
    from famtune_gui.screens.family import FamilyScreen

    return FamilyScreen(session)


def _parents(session: EngineSession) -> QWidget:
    from famtune_gui.screens.parental import ParentalScreen

    return ParentalScreen(session)


def _models(session: EngineSession) -> QWidget:
    from famtune_gui.screens.models import ModelsScreen

    return ModelsScreen(session)


def _metrics(session: EngineSession) -> QWidget:
    from famtune_gui.screens.metrics import MetricsScreen

    return MetricsScreen(session)


SCREENS: tuple[tuple[str, str, str, Callable[[EngineSession], QWidget]], ...] = (
    ("home", "Home", "home", _home),
    ("family", "Family", "family", _family),
    ("parents", "Parents", "shield", _parents),
    ("models", "Model", "model", _models),
    ("metrics", "Metrics", "chart", _metrics),
)


def family_title(ref: actions.FamilyRef) -> str:
    """How the header names a family; the demo family is never shown as the user's own."""
    name = ref.name
    if name == ref.family_id:  # no family name: "smith-family" reads "Smith"
        name = name.removesuffix("-family").replace("-", " ").title()
    return f"Demo: {name} family" if ref.is_demo else f"{name} family"


class MainWindow(QMainWindow, KeyboardHost):
    shown = Signal()

    def __init__(
        self, session: EngineSession, *, kiosk: bool = False, idle_dim_ms: int = IDLE_DIM_MS
    ) -> None:
        super().__init__()
        self.session = session
        self.kiosk = kiosk
        self._exit_allowed = False
        self.setWindowTitle("famtune")
        self.resize(1024, 600)
        self.setMinimumSize(1000, 580)
        self.screens: dict[str, QWidget] = {}
        self.current: str | None = None

        central = QWidget()
        root = QHBoxLayout(central)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        self.rail = self._rail()
        root.addWidget(self.rail)
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(0)
        right.addWidget(self._topbar())
        self.stack = QStackedWidget()
        right.addWidget(self.stack, 1)
        self.keyboard = OnScreenKeyboard()
        right.addWidget(self.keyboard)
        root.addLayout(right, 1)
        self.setCentralWidget(central)
        # The banner floats over the top bar: showing or hiding it moves nothing on the page
        # (a tap meant for a control must not land on another one).
        self.banner = Banner(central)
        self.banner.changed.connect(self._place_banner)

        self.overlay = DimOverlay(self)
        self.idle = IdleWatcher(idle_dim_ms, self)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self.idle)
        self.idle.idle.connect(self._went_idle)
        self.idle.activity.connect(session.lock.touch)
        self.idle.start()

        session.message.connect(self.banner.show_message)
        self._draft = ""
        session.families_changed.connect(self._families)
        session.draft_changed.connect(self._draft_changed)
        session.family_selected.connect(self._family_selected)
        session.bridge.busy_changed.connect(self._busy)
        self._clock_timer = QTimer(self)
        self._clock_timer.timeout.connect(self._tick)
        self._clock_timer.start(10_000)
        self._tick()

        self.first_run: FirstRunScreen | None = None
        self._started = False
        session.opened.connect(self._opened)
        if session.initialized:
            self._start()
        else:
            self._show_first_run()

    def _show_first_run(self) -> None:
        """The guided set-up: on an empty data directory, or one without any family."""
        self.first_run = FirstRunScreen(self.session)
        self.first_run.done.connect(self._first_run_done)
        self.stack.addWidget(self.first_run)
        self.stack.setCurrentWidget(self.first_run)
        self._set_chrome(False)
        self.title.setText(FirstRunScreen.title)

    # -- layout --------------------------------------------------------------------------------

    def _rail(self) -> QFrame:
        rail = QFrame()
        role(rail, "rail")
        rail.setFixedWidth(100)
        col = QVBoxLayout(rail)
        col.setContentsMargins(0, 8, 0, 8)
        col.setSpacing(2)
        self.nav = QButtonGroup(self)
        self.nav.setExclusive(True)
        self.nav_buttons: dict[str, QToolButton] = {}
        for name, label, icon_name, _factory in SCREENS:
            button = self._nav_button(label, icon_name)
            button.setCheckable(True)
            button.clicked.connect(lambda _=False, n=name: self.show_screen(n))
            self.nav.addButton(button)
            col.addWidget(button)
            self.nav_buttons[name] = button
        col.addStretch(1)
        self.exit_button = self._nav_button("Exit", "power")
        self.exit_button.clicked.connect(self.request_exit)
        self.exit_button.setVisible(self.kiosk)
        col.addWidget(self.exit_button)
        return rail

    def _nav_button(self, label: str, icon_name: str) -> QToolButton:
        button = QToolButton()
        role(button, "nav")
        button.setText(label)
        button.setIcon(icon(icon_name))
        button.setIconSize(QSize(34, 34))
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        button.setFixedWidth(100)
        return button

    def _topbar(self) -> QFrame:
        bar = QFrame()
        role(bar, "topbar")
        bar.setFixedHeight(TOPBAR_H)
        row = QHBoxLayout(bar)
        row.setContentsMargins(12, 6, 12, 6)
        self.family_choice = ChoiceButton([])
        self.family_choice.changed.connect(self.session.select_family)
        self.family_choice.hide()
        self.family_label = QLabel("")
        role(self.family_label, "value")
        self.title = QLabel("famtune")
        role(self.title, "title")
        self.busy = QLabel("")
        role(self.busy, "small")
        self.clock = QLabel("")
        role(self.clock, "clock")
        row.addWidget(self.title)
        row.addStretch(1)
        row.addWidget(self.busy)
        row.addWidget(self.family_choice)
        row.addWidget(self.family_label)
        row.addSpacing(16)
        row.addWidget(self.clock)
        return bar

    def _set_chrome(self, on: bool) -> None:
        for button in self.nav_buttons.values():
            button.setVisible(on)

    # -- screens -------------------------------------------------------------------------------

    def _start(self) -> None:
        self._set_chrome(True)
        if not self._started:
            self._started = True
            self.session.metrics.start()
        self.session.open()
        self.show_screen("home")

    def _opened(self, overview: actions.Overview) -> None:
        if not overview.families and self.first_run is None:
            self._show_first_run()

    def _first_run_done(self) -> None:
        self._start()
        if self.first_run is not None:
            self.stack.removeWidget(self.first_run)
            self.first_run.deleteLater()
            self.first_run = None

    def screen_named(self, name: str) -> QWidget:
        """The screen called ``name``, created on first use."""
        if name not in self.screens:
            factory = next(f for n, _l, _i, f in SCREENS if n == name)
            widget = factory(self.session)
            self.screens[name] = widget
            self.stack.addWidget(widget)
        return self.screens[name]

    def show_screen(self, name: str) -> QWidget:
        widget = self.screen_named(name)
        if self.current is not None and self.current != name:
            previous = self.screens.get(self.current)
            hidden = getattr(previous, "on_hidden", None)
            if callable(hidden):
                hidden()
        self.current = name
        self.stack.setCurrentWidget(widget)
        self.nav_buttons[name].setChecked(True)
        self.title.setText(str(getattr(widget, "title", name)))
        shown = getattr(widget, "on_shown", None)
        if callable(shown):
            shown()
        return widget

    def _families(self, refs: list[actions.FamilyRef]) -> None:
        self.family_choice.set_options([(r.family_id, family_title(r)) for r in refs])
        self.family_choice.setVisible(len(refs) > 1 and not self._draft)
        self.family_label.setText(family_title(refs[0]) if len(refs) == 1 else "")
        self.family_label.setVisible(len(refs) == 1 or bool(self._draft))
        if self._draft:
            self._draft_changed(self._draft)

    def _draft_changed(self, name: str) -> None:
        """A new family is being edited: the header names it, not the current family."""
        self._draft = name
        if name:
            self.family_label.setText(f"{name} family (new, not saved yet)")
            self.family_label.show()
            self.family_choice.hide()
        else:
            refs = self.session.families
            self.family_label.setText(family_title(refs[0]) if len(refs) == 1 else "")
            self.family_label.setVisible(len(refs) == 1)
            self.family_choice.setVisible(len(refs) > 1)

    def _family_selected(self, family_id: str) -> None:
        if family_id:
            self.family_choice.set_value(family_id)

    def _busy(self, busy: bool) -> None:
        self.busy.setText("Working…" if busy else "")

    def _tick(self) -> None:
        self.clock.setText(self.session.local_clock().strftime("%H:%M"))

    # -- kiosk ---------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._place_banner()
        self.shown.emit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_banner()

    def _place_banner(self) -> None:
        """Over the top bar, right of the rail; as tall as its text needs (at least the bar)."""
        central = self.centralWidget()
        if central is None:
            return
        left = self.rail.width() + 8
        width = max(200, central.width() - left - 8)
        height = max(TOPBAR_H - 8, self.banner.heightForWidth(width))
        self.banner.setGeometry(left, 4, width, height)
        self.banner.raise_()

    def _went_idle(self) -> None:
        self.session.lock.lock()
        if self.kiosk:
            self.overlay.dim()

    def request_exit(self) -> None:
        """Kiosk: leave only with the parental PIN (audited). Otherwise: close."""
        if not self.kiosk:
            self.close()
            return
        if not self.session.pin_set:
            self.session.notify(
                "Set a parental PIN under Parents first; leaving kiosk mode needs it.", "info"
            )
            return
        ask_pin(
            self.session,
            self,
            "Leave kiosk mode",
            lambda _pin: self._leave(),
            check=actions.kiosk_exit,
            unlock=False,
        )

    def system_shutdown(self) -> None:
        """The system stops the app (SIGTERM from systemd at shutdown or ``systemctl stop``):
        close cleanly, engine included, without asking for the PIN."""
        self._leave()

    def _leave(self) -> None:
        self._exit_allowed = True
        self.close()
        app = QApplication.instance()
        if app is not None:
            app.quit()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.kiosk and not self._exit_allowed:
            event.ignore()
            self.session.notify("famtune stays open in kiosk mode. Parents: tap Exit.", "info")
            return
        self._clock_timer.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self.idle)
        self.session.close()
        event.accept()
