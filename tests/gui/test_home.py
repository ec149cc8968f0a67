"""Home: recommendation cards from both sources, taps recorded through the learning engine,
engine errors shown as plain messages while the app stays usable."""

from __future__ import annotations

from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from engine.base.errors import FamtuneError
from engine.general.recommendation import Recommendation, Source
from engine.recommend.service import Batch
from famtune_gui.mainwindow import MainWindow
from famtune_gui.screens.home import HomeScreen
from famtune_gui.session import EngineSession
from tests.gui.conftest import WAIT_MS, settle, tap


def _home(window: MainWindow) -> HomeScreen:
    screen = window.screens["home"]
    assert isinstance(screen, HomeScreen)
    return screen


def test_general_recommendations_render_as_cards(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    home = _home(window)
    qtbot.waitUntil(lambda: home.last_batch is not None, timeout=WAIT_MS)
    assert [a.name for a in home.avatars] == ["John", "Emma"]
    assert home.time_choice.value() == "evening" and home.day_choice.value() == "wednesday"
    assert home.factors.values() == ["home"]
    cards = home.cards.cards
    assert len(cards) == 5 and home.last_batch is not None
    assert home.last_batch.source == "general"
    for card, rec in zip(cards, home.last_batch.recommendations, strict=True):
        assert card.title.text() == rec.title and card.reason.text() == rec.reason
        assert card.badge.text() == "General ideas"
        assert card.badge.property("role") == "badge-general"
    assert "General ideas" in home.status.text()
    assert session.metrics.latest("recommend.latency_ms") is not None


def test_a_family_model_card_says_so(
    qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(window)
    qtbot.waitUntil(lambda: home.last_batch is not None, timeout=WAIT_MS)
    model_rec = Recommendation(
        "stargazing-night",
        "Stargazing Night",
        "stem",
        "Emma loves space.",
        0.9,
        Source.FAMILY_MODEL,
        1.0,
        model_version=3,
    )
    general_rec = Recommendation(
        "bubble-chase-on-the-lawn",
        "Bubble Chase",
        "physical",
        "Good for the evening.",
        0.7,
        Source.GENERAL,
        1.0,
    )
    batch = Batch([model_rec, general_rec], Source.FAMILY_MODEL, model_version=3, tokens_per_s=80.0)

    def fake(*_args: Any, **_kwargs: Any) -> Batch:
        return batch

    monkeypatch.setattr(window.session.facade, "recommend", fake)
    home.refresh()
    qtbot.waitUntil(lambda: home.last_batch is batch, timeout=WAIT_MS)
    first, second = home.cards.cards
    assert first.badge.text() == "Family model v3"
    assert first.badge.property("role") == "badge-model"
    assert second.badge.text() == "General ideas"
    assert "family's own model (version 3)" in home.status.text()
    assert window.session.metrics.latest("inference.tokens_per_s") == 80.0


@pytest.mark.parametrize(
    ("button", "outcome", "rating"),
    [
        ("accept", "accepted", None),
        ("dismiss", "dismissed", None),
        ("done", "completed", None),
        ("stars", "rated", 4),
    ],
)
def test_taps_are_recorded_for_everyone_present(
    qtbot: QtBot,
    window: MainWindow,
    session: EngineSession,
    button: str,
    outcome: str,
    rating: int | None,
) -> None:
    home = _home(window)
    qtbot.waitUntil(lambda: home.last_batch is not None, timeout=WAIT_MS)
    card = home.cards.cards[0]
    if button == "stars":
        tap(card.stars.stars[3])
    else:
        tap(getattr(card, button))
    qtbot.waitUntil(lambda: card.status.text() != "", timeout=WAIT_MS)
    settle(qtbot, session)
    assert not window.banner.isVisible(), window.banner.text.text()
    history = session.facade.learning_engine.get_interaction_history("smith-family")
    assert {(h.member_id, h.item_id, h.outcome, h.rating) for h in history} == {
        (m, card.rec.id, outcome, rating) for m in ("dad-john", "child-emma")
    }
    assert history[0].context["timeOfDay"] == "evening"
    assert card.status.text() != ""


def test_tapping_an_avatar_changes_who_is_asked_for(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    home = _home(window)
    qtbot.waitUntil(lambda: home.last_batch is not None, timeout=WAIT_MS)
    john = home.avatars[0]
    tap(john)
    qtbot.waitUntil(lambda: not john.isChecked())
    assert home.present() == ["child-emma"]
    assert home.context()["familyMembers"] == ["child-emma"]
    # remembered for the family (changing the moment keeps who is here)
    assert session.prefs.get("presence/smith-family") == ["child-emma"]
    qtbot.waitUntil(lambda: session.bridge.pending == 0, timeout=WAIT_MS)


def test_an_engine_error_is_a_plain_banner_and_the_app_carries_on(
    qtbot: QtBot, window: MainWindow, session: EngineSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(window)
    qtbot.waitUntil(lambda: home.last_batch is not None, timeout=WAIT_MS)
    real = session.facade.recommend

    def broken(*_args: Any, **_kwargs: Any) -> Batch:
        raise FamtuneError("the family model files are missing")

    monkeypatch.setattr(session.facade, "recommend", broken)
    home.refresh()
    settle(qtbot, session)
    assert window.banner.isVisible() and window.banner.level == "error"
    assert window.banner.text.text() == "The family model files are missing"
    assert "Traceback" not in window.banner.text.text()

    def crash(*_args: Any, **_kwargs: Any) -> Batch:
        raise KeyError("internal")

    monkeypatch.setattr(session.facade, "recommend", crash)
    home.refresh()
    settle(qtbot, session)
    assert window.banner.text.text().startswith("Something went wrong while finding ideas")

    monkeypatch.setattr(session.facade, "recommend", real)
    before = home.last_batch
    home.refresh()
    qtbot.waitUntil(lambda: home.last_batch is not before, timeout=WAIT_MS)
    assert len(home.cards.cards) == 5
