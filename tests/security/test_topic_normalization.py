"""Item 5: blocked topics must not fall to spelling tricks, and the normalization must not
block ordinary activities. Attacked through ``safety check`` for a family that blocks
violence; the false-positive rate and the recall are measured on a labelled table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.domain.catalog import load_builtin_catalog
from engine.safety.lexicon import default_lexicon, words_of
from engine.safety.normalize import readings
from tests.conftest import CliRun
from tests.security.conftest import write_json

# (text, topic) that must be caught: each is a trick the plain whole-word match missed.
TRICKS = [
    ("v1olence and k1ll the dragon", "violence"),
    ("k1ll", "violence"),
    ("b100d bath", "violence"),
    ("m4ss4cr3", "violence"),
    ("k!ll them all", "violence"),
    ("g0ry battle", "violence"),
    ("ki\u200bll the monster", "violence"),  # zero-width space
    ("ki\u00adll", "violence"),  # soft hyphen
    ("mur\u200ddered", "violence"),  # zero-width joiner
    ("\u043aill", "violence"),  # Cyrillic ka
    ("murd\u0435r", "violence"),  # Cyrillic ie
    ("\u0430ssault", "violence"),  # Cyrillic a
    ("ｋｉｌｌ everyone", "violence"),  # full-width
    ("ＭＵＲＤＥＲ mystery", "violence"),
    ("k i l l", "violence"),
    ("m.u.r.d.e.r", "violence"),
    ("k-i-l-l-i-n-g spree", "violence"),
    ("b l o o d", "violence"),
    ("massacring the villagers", "violence"),  # verb form not in the lexicon
    ("two bloodbaths", "violence"),  # plural not in the lexicon
    ("carnages", "violence"),
    ("kíll", "violence"),  # accent
    ("k̶i̶l̶l̶", "violence"),  # combining strike-through
    ("kidnappings at night", "violence"),
    ("g4mbl1ng night", "gambling"),
    ("c\u0430sino trip", "gambling"),
    ("p o k e r", "gambling"),
    ("roulettes", "gambling"),
    ("z0mbie walk", "scary_content"),
    ("poltergeists at home", "scary_content"),
    ("ｇｕｎ range", "weapons"),
    ("p1stol practice", "weapons"),
    ("switchblades for kids", "weapons"),
    ("b33r tasting", "drugs_alcohol"),
    ("c0cktail hour", "drugs_alcohol"),
    ("$exy dance", "adult_content"),
    ("p0rn", "adult_content"),
    ("daredevils on bikes", "dangerous_activities"),
    ("vi-o.lence on screen", "violence"),
    ("mur*der mystery", "violence"),
]

# (text, topic) that must NOT be caught: ordinary activity text with digits, symbols,
# accents, non-Latin scripts, single letters and word forms near a lexicon term.
CLEAN = [
    ("Read 10 books in 5 days", "violence"),
    ("Bake at 180 degrees for 25 minutes", "violence"),
    ("Build a 3D model of the solar system", "violence"),
    ("4x4 jeep ride to the lake", "violence"),
    ("Play the A B C song together", "violence"),
    ("Count 1 2 3 4 5 and jump", "violence"),
    ("Learn the letters a, b and c", "violence"),
    ("Skill building with blocks", "violence"),
    ("Killer whale watching trip", "gambling"),
    ("Bloody good fun at the fair", "weapons"),
    ("Fighting fit yoga for families", "gambling"),
    ("Make a café au lait for grown-ups", "violence"),
    ("Crème brûlée for dessert", "violence"),
    ("Visit the Москва museum exhibit", "violence"),
    ("Learn 你好 in Chinese", "violence"),
    ("Mp3 playlist for the car", "violence"),
    ("Vitamin B12 snack guide", "violence"),
    ("A 5k fun run in the park", "violence"),
    ("Plant 12 tulip bulbs", "violence"),
    ("U.S.A. map puzzle", "violence"),
    ("Betting on sunshine for the picnic", "violence"),
    ("Better together board games", "gambling"),
    ("Bet you can't hop on one foot", "violence"),
    ("Shooting stars in August", "weapons"),
    ("Gunnar's guide to birdwatching", "weapons"),
    ("Pokémon card sorting", "gambling"),
    ("Date and walnut muffins", "romance"),
    ("Kissing gate on the hiking trail", "violence"),
    ("Haunted house? No: a cosy cabin story", "violence"),
    ("Ghostwriter workshop for teens", "scary_content"),
    ("Monstera plant care", "scary_content"),
    ("Boxing Day walk", "violence"),
    ("Beet salad with feta", "drugs_alcohol"),
    ("Root beer float (no alcohol)", "adult_content"),
    ("Gin rummy card game", "gambling"),
    ("Sexton beetle bug hunt", "adult_content"),
    ("Essex coast rock pools", "adult_content"),
    ("Cocktail sausages at the party", "violence"),
    ("Pistachio ice cream", "weapons"),
    ("Dare to try a new vegetable", "dangerous_activities"),
    ("Stunt kite flying? Try a simple kite instead", "violence"),
    ("Ki-ll... no, Kiwi fruit tasting", "violence"),
    ("Spell k-i-t-e with letter tiles", "violence"),
    ("Z0o trip to see the lions", "violence"),
    ("R2-D2 drawing class", "violence"),
    ("Level 7 of the maths app", "violence"),
    ("C-3PO costume making", "violence"),
    ("Room 101 museum tour", "violence"),
    ("1st, 2nd and 3rd place ribbons", "violence"),
    ("Hide and seek with 4 friends", "scary_content"),
]


def _caught(text: str, topic: str) -> bool:
    matcher = default_lexicon().matcher(topic)
    assert matcher is not None, topic
    return any(matcher.search(form, words_of(form)) for form in readings(text))


def _plain(text: str, topic: str) -> bool:
    matcher = default_lexicon().matcher(topic)
    assert matcher is not None
    return matcher.search(text, words_of(text)) is not None


def test_the_tricks_were_missed_by_the_plain_match() -> None:
    """The table holds real attacks: the whole-word match alone misses every one."""
    assert [t for t, topic in TRICKS if _plain(t, topic)] == []


def test_labelled_table_recall_and_false_positive_rate() -> None:
    caught = [t for t, topic in TRICKS if _caught(t, topic)]
    flagged = [t for t, topic in CLEAN if _caught(t, topic)]
    recall = len(caught) / len(TRICKS)
    false_positive_rate = len(flagged) / len(CLEAN)
    assert recall == 1.0, [t for t, topic in TRICKS if not _caught(t, topic)]
    assert false_positive_rate <= 0.02, flagged  # at most 1 of 50


def test_no_builtin_activity_gains_a_topic_it_is_not_tagged_with() -> None:
    """False positives on the real catalog: the normalization adds no lexicon match to any
    built-in title or description beyond what the plain match already found."""
    lexicon = default_lexicon()
    added = []
    for item in load_builtin_catalog():
        for text in (item.title, item.description):
            for topic in sorted(lexicon.topics - set(item.topics)):
                if _caught(text, topic) and not _plain(text, topic):
                    added.append((item.id, topic))
    assert added == []


@pytest.mark.parametrize(("title", "topic"), TRICKS[:12] + TRICKS[24:30])
def test_safety_check_blocks_the_trick_through_the_cli(
    cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any], title: str, topic: str
) -> None:
    profile = json.loads(json.dumps(smith_profile))
    profile["safetySettings"]["blockedTopics"] = [topic]
    cli.json("family", "import", write_json(tmp_path / "f.json", profile))
    item = {
        "id": "tricky-item",
        "title": title,
        "description": "An afternoon activity.",
        "contentRating": "G",
        "minAge": 0,
        "categories": ["games"],
        "topics": [],
    }
    code, out, _ = cli(
        "safety", "check", "--family", "smith-family", "--member", "dad-john",
        "--at", "2026-11-28T11:00:00", write_json(tmp_path / "item.json", item), "--json",
    )  # fmt: skip
    verdict = json.loads(out)
    assert verdict["allowed"] is False, verdict
    assert {r["code"] for r in verdict["reasons"]} & {"avoided_topic_term", "blocked_topic"}
    assert code in (0, 1)


def test_a_tag_spelled_with_tricks_is_the_blocked_topic(
    cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any]
) -> None:
    profile = json.loads(json.dumps(smith_profile))
    profile["safetySettings"]["blockedTopics"] = ["violence"]
    cli.json("family", "import", write_json(tmp_path / "f.json", profile))
    item = {
        "id": "tagged-item", "title": "Quiet afternoon", "description": "Calm.",
        "contentRating": "G", "minAge": 0, "categories": ["games"], "topics": ["v1olence"],
    }  # fmt: skip
    _code, out, _ = cli(
        "safety", "check", "--family", "smith-family", "--member", "dad-john",
        write_json(tmp_path / "item.json", item), "--json",
    )  # fmt: skip
    assert json.loads(out)["allowed"] is False
