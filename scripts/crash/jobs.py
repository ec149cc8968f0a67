"""What the killed commands do: changed profiles and parental settings, interaction
batches, single interactions, rollbacks and training runs, each with the change it makes."""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from scripts.crash.commands import FAMILY, ROOT, TRAIN_MODES
from scripts.crash.expect import Acked, InFlight

INTERESTS = ["technology", "sports", "cooking", "animals", "drawing", "music", "science",
             "history", "reading", "nature", "games", "crafts", "dance", "building"]  # fmt: skip
TOPICS = ["violence", "adult_content", "horror", "gambling", "weapons", "scary_content",
          "alcohol", "dating"]  # fmt: skip
STYLES = ["visual", "auditory", "kinesthetic", "reading"]
ACTIVITIES = ["breakfast", "homework", "playtime", "reading", "dinner", "bedtime", "cooking",
              "music", "drawing", "travel"]  # fmt: skip
FACTORS = ["home", "away", "indoors", "outdoors", "weekend", "rainy", "sunny", "tired",
           "guests", "school_night"]  # fmt: skip
OUTCOMES = ["shown", "accepted", "accepted", "dismissed", "completed", "rated"]


def normalized(document: dict[str, Any]) -> dict[str, Any]:
    """A profile as ``family export`` prints it after importing ``document``."""
    from engine.schema.profiles import parse_profile_text

    return parse_profile_text(json.dumps(document)).to_json()


def mutate_profile(rng: random.Random, current: dict[str, Any], *, safety: bool) -> dict[str, Any]:
    """A valid variant of the profile: parental settings changed only with ``safety``."""
    doc = copy.deepcopy(current)
    while normalized(doc) == current:
        if safety:
            settings = doc["safetySettings"]
            choice = rng.randrange(4)
            if choice == 0:
                settings["maxContentRating"] = rng.choice(["G", "PG", "PG-13"])
            elif choice == 1:
                settings["blockedTopics"] = rng.sample(TOPICS, rng.randint(1, 4))
            elif choice == 2:
                settings["timeRestrictions"] = [{
                    "startTime": f"{rng.randint(19, 22):02d}:{rng.choice(['00', '30'])}",
                    "endTime": f"{rng.randint(6, 8):02d}:00",
                    "daysOfWeek": sorted(rng.sample(range(7), rng.randint(1, 7))),
                    "restrictedContent": rng.sample(["entertainment", "games", "video"], 1),
                }]  # fmt: skip
            else:
                member = rng.choice(doc["members"])
                member["safetyLevel"] = rng.choice(["strict", "moderate", "relaxed"])
        else:
            member = rng.choice(doc["members"])
            prefs = member["preferences"]
            if member["role"] == "child":
                member["age"] = rng.randint(4, 12)
            else:
                member["age"] = rng.randint(28, 60)
            prefs["interests"] = rng.sample(INTERESTS, rng.randint(1, 5))
            prefs["learningStyle"] = rng.choice(STYLES)
    return doc


def catalog_ids() -> list[str]:
    doc = json.loads((ROOT / "resources" / "catalog.json").read_text())
    return sorted(str(a["id"]) for a in doc["activities"])


def interaction_record(rng: random.Random, items: list[str], members: list[str]) -> dict[str, Any]:
    at = datetime.now(timezone.utc) - timedelta(minutes=rng.randint(10, 40 * 24 * 60))
    outcome = rng.choice(OUTCOMES)
    record: dict[str, Any] = {
        "member": rng.choice(members), "itemId": rng.choice(items), "outcome": outcome,
        "at": at.isoformat(),
        "context": {"at": at.isoformat(),
                    "familyMembers": rng.sample(members, rng.randint(1, len(members))),
                    "currentActivity": rng.choice(ACTIVITIES),
                    "environmentalFactors": rng.sample(FACTORS, rng.randint(0, 3))},
    }  # fmt: skip
    if outcome == "rated":
        record["rating"] = rng.randint(1, 5)
    return record


@dataclass
class Job:
    """One engine command to start (and usually kill), and the change it makes."""

    kind: str
    args: list[str]
    flight: InFlight
    mode: str = ""  # train: cli, worker or group


def make_job(
    kind: str,
    rng: random.Random,
    acked: Acked,
    work: Path,
    items: list[str],
    train_mode: str = "",
) -> Job:
    members = [m["userId"] for m in acked.profile["members"]]
    if kind in ("profile", "safety"):
        doc = mutate_profile(rng, acked.profile, safety=kind == "safety")
        path = work / f"profile-{rng.getrandbits(32):08x}.json"
        path.write_text(json.dumps(doc))
        return Job(kind, ["family", "import", str(path)], InFlight(kind, profile=normalized(doc)))
    if kind == "interactions":
        lines = [interaction_record(rng, items, members) for _ in range(rng.randint(150, 400))]
        path = work / f"batch-{rng.getrandbits(32):08x}.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return Job(kind, ["interactions", "import", "--family", FAMILY, str(path)],
                   InFlight(kind, interactions=len(lines)))  # fmt: skip
    if kind == "interaction":
        record = interaction_record(rng, items, members)
        ctx = work / f"context-{rng.getrandbits(32):08x}.json"
        ctx.write_text(json.dumps(record["context"]))
        args = ["interactions", "add", "--family", FAMILY, "--member", record["member"],
                "--item", record["itemId"], "--outcome", record["outcome"],
                "--context", str(ctx)]  # fmt: skip
        if "rating" in record:
            args += ["--rating", str(record["rating"])]
        return Job(kind, args, InFlight(kind, interactions=1))
    if kind == "rollback":
        target = rng.choice([v for v in acked.versions if v != acked.active])
        return Job(kind, ["models", "rollback", FAMILY, "--to", str(target)],
                   InFlight(kind, target=target))  # fmt: skip
    mode = train_mode or rng.choice(TRAIN_MODES)
    return Job("train", ["train", "--family", FAMILY, "--force"], InFlight("train"), mode)
