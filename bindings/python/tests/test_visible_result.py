"""A deliberation's visible result through the bindings is what the CLI shows for the
same store file, as JSON and as text for a person: a secret vote, a vote with results hidden until the close (before and
after it), a public vote inside the grace period after its deadline.

The CLI (`cunwu --home DIR deliberation show ID --json`) reads the phone's own store
file, so both sides judge the same ballots at (almost) the same moment. An outcome is
"hidden" (the CLI prints `"tally": null` with `tally_hidden`; the bindings raise
CunwuError.NotAllowed) or the counts with the final flag. The rule deciding what a
member may see of a vote is one function of the model
(protocol/src/model/deliberation.rs, `Deliberation::result_view`), which the store,
the CLI, the relay and the bindings all call.

Environment: CUNWU_CLI_BIN (default <repo>/target/debug/cunwu, built if missing).
"""

import asyncio
import re
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import cunwu_ffi as cw

ROOT = Path(__file__).resolve().parents[3]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))

def cli_binary() -> Path:
    given = os.environ.get("CUNWU_CLI_BIN")
    if given:
        return Path(given)
    path = TARGET / "debug" / "cunwu"
    if os.environ.get("CUNWU_NO_BUILD") != "1" or not path.exists():
        subprocess.run(["cargo", "build", "--quiet", "-p", "cunwu-cli"], check=True, cwd=ROOT)
    return path


def cli_text_outcome(home: Path, deliberation_id: str, options: int = 2):
    """What `cunwu deliberation show ID` prints for a person: "hidden" (a `tally:` line
    with the reason) or the counts per option with the final flag."""
    out = subprocess.run(
        # the CLI speaks Chinese by default; these lines are read in English
        [str(cli_binary()), "--home", str(home), "--lang", "en", "deliberation", "show", deliberation_id],
        check=True,
        capture_output=True,
        timeout=60,
        text=True,
    ).stdout
    tally_line = next(l for l in out.splitlines() if l.startswith("tally: "))
    if "eligible took part" not in tally_line:
        return "hidden"
    counts = []
    for i in range(options):
        line = next(l for l in out.splitlines() if l.strip().startswith(f"[{i}]"))
        m = re.search(r"(\d+) votes?\b", line)
        counts.append(int(m.group(1)) if m else 0)
    return (counts, tally_line.endswith("(final)"))


def cli_outcome(home: Path, deliberation_id: str):
    out = subprocess.run(
        [str(cli_binary()), "--home", str(home), "--json", "deliberation", "show", deliberation_id],
        check=True,
        capture_output=True,
        timeout=60,
    )
    shown = json.loads(out.stdout)
    if shown["tally"] is None:
        assert shown["tally_hidden"], shown
        return "hidden"
    return (shown["tally"]["counts"], shown["tally"]["final_result"])


def ffi_outcome(store, deliberation_id: str):
    try:
        tally = store.tally(deliberation_id)
    except cw.CunwuError.NotAllowed:
        return "hidden"
    return (list(tally.counts), tally.final_result)


@pytest.fixture
def cadre(relay, tmp_path):
    home = tmp_path / "cadre"
    store = cw.CunwuStore.open(str(home / "cunwu.db"))
    asyncio.run(store.enroll(relay.url, relay.cadre_invite, "王书记"))
    return store, home


def vote(store, *, secret=False, hide_results=False, closes_in_ms=3_000):
    """A vote open now, closing soon, with the cadre's ballot for option 0."""
    now = int(time.time() * 1000)
    deliberation_id = store.create_deliberation(
        cw.NewDeliberation(
            title="是否修建村文化广场",
            body="广场选址在老学校旧址。",
            deciding_body=cw.DecidingBody.VILLAGERS_MEETING,
            options=["同意", "不同意"],
            opens_at=now,
            closes_at=now + closes_in_ms,
            secret=secret,
            hide_results=hide_results,
        )
    )
    store.open_voting(deliberation_id)
    store.cast_ballot(deliberation_id, 0)
    return deliberation_id, now + closes_in_ms


def sleep_past(deadline_ms: int):
    time.sleep(max(0.0, deadline_ms / 1000 - time.time()) + 0.2)


def test_secret_vote_before_the_close_is_hidden_as_in_the_cli(cadre):
    store, home = cadre
    deliberation_id, _ = vote(store, secret=True, closes_in_ms=600_000)
    assert cli_outcome(home, deliberation_id) == "hidden"
    assert cli_text_outcome(home, deliberation_id) == "hidden"
    assert ffi_outcome(store, deliberation_id) == "hidden"


def test_hidden_results_before_the_close_are_hidden_as_in_the_cli(cadre):
    store, home = cadre
    deliberation_id, _ = vote(store, hide_results=True, closes_in_ms=600_000)
    assert cli_outcome(home, deliberation_id) == "hidden"
    assert cli_text_outcome(home, deliberation_id) == "hidden"
    assert ffi_outcome(store, deliberation_id) == "hidden"


def test_hidden_results_after_the_close_show_what_the_cli_shows(cadre):
    store, home = cadre
    deliberation_id, closes_at = vote(store, hide_results=True)
    asyncio.run(store.sync())
    sleep_past(closes_at)
    # after the close the relay counts a hidden vote and signs its tally (it looks for
    # closed votes at least every 10 s); the phone shows that count only, and until it
    # arrives the result stays hidden
    deadline = time.time() + 30
    shown = "hidden"
    while shown == "hidden" and time.time() < deadline:
        asyncio.run(store.sync())
        shown = cli_outcome(home, deliberation_id)
        if shown == "hidden":
            assert ffi_outcome(store, deliberation_id) == "hidden"
            time.sleep(1)
    assert shown != "hidden" and shown[0] == [1, 0], shown
    assert ffi_outcome(store, deliberation_id) == shown
    assert cli_text_outcome(home, deliberation_id) == shown


def test_public_vote_inside_the_grace_period_shows_what_the_cli_shows(cadre):
    store, home = cadre
    deliberation_id, closes_at = vote(store)
    sleep_past(closes_at)  # past the deadline, well inside the grace period for late ballots
    shown = cli_outcome(home, deliberation_id)
    assert shown != "hidden" and shown[0] == [1, 0], shown
    assert ffi_outcome(store, deliberation_id) == shown
    assert cli_text_outcome(home, deliberation_id) == shown
