"""Start the famtune window: ``famtune [--kiosk] [--home DIR]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QListWidget, QMainWindow, QVBoxLayout, QWidget

from engine import families
from engine.core import Famtune
from engine.errors import FamtuneError


class MainWindow(QMainWindow):
    """First screen: which data directory is open and which families it holds."""

    def __init__(self, engine: Famtune) -> None:
        super().__init__()
        self.engine = engine
        self.setWindowTitle("famtune")
        self.resize(1024, 600)
        central = QWidget()
        layout = QVBoxLayout(central)
        title = QLabel("famtune")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title.setStyleSheet("font-size: 32px; font-weight: bold;")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.family_list = QListWidget()
        layout.addWidget(title)
        layout.addWidget(self.status_label)
        layout.addWidget(self.family_list)
        self.setCentralWidget(central)
        self.refresh()

    def refresh(self) -> None:
        self.family_list.clear()
        if not self.engine.initialized:
            self.status_label.setText(
                f"No data yet in {self.engine.data.root}. Run 'famtune-engine init' to set up."
            )
            return
        try:
            with self.engine.db.read() as session:
                rows = families.list_families(session)
        except FamtuneError as exc:
            self.status_label.setText(f"Could not read family data: {exc}")
            return
        self.status_label.setText(f"Data directory: {self.engine.data.root}")
        for fam in rows:
            self.family_list.addItem(fam.family_name or fam.id)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="famtune")
    parser.add_argument("--kiosk", action="store_true", help="full screen, no decorations")
    parser.add_argument("--home", metavar="DIR", help="data directory")
    args, qt_args = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    window = MainWindow(Famtune(args.home))
    if args.kiosk:
        window.setWindowFlag(Qt.WindowType.FramelessWindowHint)
        window.showFullScreen()
    else:
        window.show()
    return int(app.exec())


if __name__ == "__main__":
    raise SystemExit(main())
