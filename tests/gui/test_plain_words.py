"""Plain words for parents: no jargon, hashes or raw JSON on Home, Model and Parents; the
Model screen explains itself in two sentences and keeps its numbers under "Details"; the
audit log reads as words. Charts say "No data yet", draw a single point, tick whole steps.
Small things: the time editor's problem beside the times, menus inside a 1024x600 window,
no clipped member form, "Delete models" only with models."""

from __future__ import annotations

import re

from PySide6.QtWidgets import QLabel, QWidget
from pytestqt.qtbot import QtBot

from engine.domain.modelstore import ModelStore
from engine.gguf import ADAPTER_GGUF
from famtune_gui.audit_words import details_words, event_words
from famtune_gui.mainwindow import MainWindow
from famtune_gui.screens.family import FamilyScreen
from famtune_gui.screens.models import INTRO, ModelsScreen
from famtune_gui.screens.parental import ParentalScreen
from famtune_gui.session import EngineSession
from famtune_gui.widgets.charts import StepChart, TimeSeriesChart
from tests.gui.conftest import PIN, WAIT_MS, settle, tap

JARGON = re.compile(r"hit@3|lora|memory-mapped|tokens/s|sha256|baselineScore|[{}]|=\d", re.I)


def _texts(root: QWidget) -> list[str]:
    return [label.text() for label in root.findChildren(QLabel) if label.isVisibleTo(root)]


def _publish(session: EngineSession) -> None:
    store = ModelStore(session.facade.ft)
    staged = store.staging_dir("smith-family")
    (staged / ADAPTER_GGUF).write_bytes(b"not really an adapter")
    store.commit(
        "smith-family",
        staged,
        {"baseSha256": "b" * 64, "datasetHash": "d" * 64},
        activate=True,
        status="active",
        reason=None,
        scores={"performanceScore": 0.58, "baselineScore": 0.7142857142857143, "safetyScore": 0.99},
        interactions_used=60,
    )


def test_no_jargon_on_home_model_and_parents(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    _publish(session)
    for name in ("home", "models"):
        screen = window.show_screen(name)
        settle(qtbot, session)
        for text in _texts(screen):
            assert not JARGON.search(text), f"{name}: {text!r}"
    models = window.show_screen("models")
    assert isinstance(models, ModelsScreen)
    qtbot.waitUntil(lambda: models.overview is not None and models.overview.active is not None)
    assert models.intro.text() == INTRO and INTRO.count(". ") == 1  # two sentences
    assert not models.numbers.isVisible() and not models.details.isVisible()
    tap(models.details_button)  # the numbers, under Details
    assert models.numbers.isVisible() and "71%" in models.details.text()
    tap(models.details_button)
    assert not models.numbers.isVisible()
    parents = window.show_screen("parents")
    assert isinstance(parents, ParentalScreen)
    parents.gate.pad.type_pin(PIN)
    qtbot.waitUntil(lambda: session.lock.unlocked, timeout=WAIT_MS)
    parents.tabs.setCurrentWidget(parents.audit)
    settle(qtbot, session)
    model = parents.audit.model
    rows = [model.data(model.index(r, c)) for r in range(model.rowCount()) for c in (1, 4)]
    assert "Family model in use" in rows
    for text in rows:
        assert not JARGON.search(str(text)), text
    for row in range(model.rowCount()):
        parents.audit.table.clicked.emit(model.index(row, 0))
        assert not JARGON.search(parents.audit.details.text()), parents.audit.details.text()


def test_audit_details_read_as_words() -> None:
    assert details_words({"baselineScore": 0.7142857142857143, "version": 2}) == (
        "General ideas pick well: 71%, version: 2"
    )
    assert details_words({"failures": 3, "retryAfterS": 1}) == "Wrong tries: 3, wait: 1 s"
    assert details_words({"failures": 10, "lockedForS": 3600, "via": "recoveryCode"}) == (
        "Wrong tries: 10, locked for: 1 hour, with the recovery code"
    )
    changes = {
        "changes": {
            "maxContentRating": {"from": "PG", "to": "PG-13"},
            "blockedTopics": {"added": ["horror_films"], "removed": []},
        }
    }
    assert details_words(changes) == "Content limit PG → PG-13, blocked topics: + horror films"
    assert details_words({"datasetHash": "d" * 64, "adapterSha256": "a" * 64}) == ""
    assert event_words("profile_imported") == "Family imported"
    assert event_words("family_created") == "Family created"


def test_charts_say_no_data_draw_one_point_and_tick_whole_steps(qtbot: QtBot) -> None:
    chart = TimeSeriesChart("Memory", "MB", ["used"])
    qtbot.addWidget(chart)
    assert chart.empty and chart.empty_label.isVisibleTo(chart)
    assert not chart.y_axis.labelsVisible()
    chart.set_points("used", [(9.0, 120.0)], now=10.0)
    assert not chart.empty_label.isVisibleTo(chart) and chart.y_axis.labelsVisible()
    assert chart.series["used"].pointsVisible()  # one point: drawn as a dot
    chart.set_points("used", [(8.0, 100.0), (9.0, 120.0)], now=10.0)
    assert not chart.series["used"].pointsVisible()
    steps = StepChart("Training loss", "loss")
    qtbot.addWidget(steps)
    assert steps.empty_label.isVisibleTo(steps)
    for x in range(1, 14):
        steps.append(x, 2.0 / x)
    interval = steps.x_axis.tickInterval()
    assert interval == int(interval) and interval >= 1
    assert steps.x_axis.max() == int(steps.x_axis.max())


def test_small_things(qtbot: QtBot, window: MainWindow, session: EngineSession) -> None:
    models = window.show_screen("models")
    assert isinstance(models, ModelsScreen)
    settle(qtbot, session)
    assert not models.delete_button.isEnabled()  # no models yet
    parents = window.show_screen("parents")
    assert isinstance(parents, ParentalScreen)
    parents.gate.pad.type_pin(PIN)
    qtbot.waitUntil(lambda: session.lock.unlocked, timeout=WAIT_MS)
    parents.tabs.setCurrentIndex(1)
    parents.time_limits.add_window()
    editor = parents.time_limits.editor
    editor.end.set_value(editor.start.value())
    editor._update()
    assert editor.times_problem.text() == "Start and end must differ."
    assert not editor.done_button.isEnabled()
    # the audit filter's long list stays inside the window
    parents.tabs.setCurrentWidget(parents.audit)
    settle(qtbot, session)
    tap(parents.audit.filter)
    popup = parents.audit.filter.popup
    assert popup is not None and popup.isVisible()
    assert window.rect().contains(popup.panel.geometry())
    tap(popup.options["pin_set"])
    assert parents.audit.filter.value() == "pin_set" and not popup.isVisible()
    # the role menu of the member form, after "New family"
    family = window.show_screen("family")
    assert isinstance(family, FamilyScreen)
    family.new_family("Rivera")
    qtbot.wait(20)
    form = family.member_form
    viewport = form.parentWidget()
    assert viewport is not None
    for widget in (form.name, form.learning, form.role_choice):
        right = widget.mapTo(viewport, widget.rect().topRight()).x()
        assert right <= viewport.width(), type(widget).__name__  # not under the scroll bar
    tap(form.role_choice)
    role_popup = form.role_choice.popup
    assert role_popup is not None and window.rect().contains(role_popup.panel.geometry())
    role_popup.hide()
