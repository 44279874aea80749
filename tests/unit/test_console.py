"""The console's parts without a browser: the form's fields of a YAML file, checking an edit,
publishing it and rolling back, and refusing to write the package's own directories."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from engagement.authoring.backtest import Progress as BacktestProgress
from engagement.config.loader import default_triggers_dir
from engagement.config.messages import default_messages_dir
from engagement.console.backtest_child import report_progress
from engagement.console.backtests import Backtests, Job, forget_kept, take_progress
from engagement.console.fields import fields_of
from engagement.console.new_trigger import skeleton
from engagement.console.versions import (
    LiveChanged,
    NeedsAcknowledgement,
    PublishRefused,
    Review,
    Versions,
    files_digest,
)
from engagement.console.workspace import BadEdit, Workspace
from engagement.core.engine import Engine, EngineSettings
from engagement.live.config_reload import own_configuration
from engagement.settings import Settings
from tests.scenario import filled_carts


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    shutil.copytree(default_triggers_dir(), tmp_path / "triggers")
    shutil.copytree(default_messages_dir(), tmp_path / "messages")
    return Workspace(tmp_path / "triggers", tmp_path / "messages", EngineSettings())


def test_fields_know_where_each_value_is() -> None:
    text = '# a comment\nidle: 60m   # the wait\npolicies:\n  quiet_hours:\n    allowed: "* 9-20 * * *"\n'
    text += "text: |\n  line one\n  line two\n\nnext: 1\n"
    fields = {f["path"]: f for f in fields_of(text)}
    idle = fields["idle"]
    assert (idle["value"], idle["line"], idle["start"], idle["end"]) == ("60m", 2, 6, 9)
    assert text.splitlines()[1][idle["start"] : idle["end"]] == "60m"
    assert fields["policies.quiet_hours.allowed"]["quoted"] is True
    block = fields["text"]
    assert (block["value"], block["first"], block["last"], block["indent"]) == ("line one\nline two", 7, 8, 2)
    assert fields_of("a: [1, 2\n") == []  # text that does not parse has no form
    assert fields_of("") == []


def test_an_edit_is_checked_with_each_problem_at_its_file_and_line(workspace: Workspace) -> None:
    cart = workspace.files()["triggers/cart_idle.yaml"]
    typo = workspace.check({"triggers/cart_idle.yaml": cart.replace("idle: 60m", "idle: 45 minutes")})
    assert typo.errors == 1
    (problem,) = typo.problems
    assert (problem.file, problem.where) == ("triggers/cart_idle.yaml", "idle")
    assert cart.splitlines()[problem.line - 1].startswith("idle: 60m")
    fixed = workspace.check({"triggers/cart_idle.yaml": cart.replace("idle: 60m", "idle: 45m")})
    assert fixed.errors == 0
    assert fixed.version is not None
    assert fixed.version != workspace.check({}).version
    with pytest.raises(BadEdit):
        workspace.check({"triggers/../secret.yaml": "x"})


def test_publish_keeps_every_version_and_rolls_back(workspace: Workspace, tmp_path: Path) -> None:
    versions = Versions(tmp_path / "state", workspace)
    cart_path = workspace.triggers_dir / "cart_idle.yaml"
    original = cart_path.read_text(encoding="utf-8")
    first = workspace.check({}).version
    with pytest.raises(PublishRefused) as refused:
        versions.publish({"triggers/cart_idle.yaml": original.replace("idle: 60m", "idle: soon")}, "ann", "typo")
    assert refused.value.problems[0].where == "idle"
    assert cart_path.read_text(encoding="utf-8") == original  # nothing written
    done = versions.publish({"triggers/cart_idle.yaml": original.replace("idle: 60m", "idle: 45m")}, "ann", "45 min")
    assert "idle: 45m" in cart_path.read_text(encoding="utf-8")
    assert (done.number, done.author, done.note, done.changed) == (1, "ann", "45 min", ["triggers/cart_idle.yaml"])
    assert "-idle: 60m" in done.diff
    assert "+idle: 45m" in done.diff
    extra = workspace.messages_dir / "cart_idle_vip.yaml"
    assert not extra.exists()
    back = versions.rollback(0, "bo")
    assert cart_path.read_text(encoding="utf-8") == original
    assert back.config_version == first
    assert [(v.number, v.author) for v in versions.history()] == [(0, "engagement"), (1, "ann"), (2, "bo")]
    with pytest.raises(PublishRefused):
        versions.rollback(9, "bo")
    with pytest.raises(PublishRefused, match="nothing to publish"):
        versions.publish({"triggers/cart_idle.yaml": original}, "bo", "the same again")
    with pytest.raises(PublishRefused, match="nothing to publish"):
        versions.publish({}, "bo", "nothing")


def test_a_publish_reviewed_against_files_another_publish_changed_is_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Two admins review at once: the second publish would silently undo what the first changed."""
    versions = Versions(tmp_path / "state", workspace)
    original = (workspace.triggers_dir / "cart_idle.yaml").read_text(encoding="utf-8")
    reviewed = files_digest(workspace.files())  # both review against the same live files
    ann = {"triggers/cart_idle.yaml": original.replace("idle: 60m", "idle: 45m")}
    bo = {"triggers/cart_idle.yaml": original.replace("idle: 60m", "idle: 90m")}
    versions.publish(ann, "ann", "45 min", Review(base=reviewed))
    with pytest.raises(LiveChanged, match="review the edit again"):
        versions.publish(bo, "bo", "90 min", Review(base=reviewed))
    assert "idle: 45m" in (workspace.triggers_dir / "cart_idle.yaml").read_text(encoding="utf-8")
    done = versions.publish(bo, "bo", "90 min", Review(base=files_digest(workspace.files())))  # reviewed again
    assert "-idle: 45m" in done.diff


def test_rolling_back_past_a_new_trigger_removes_its_files(workspace: Workspace, tmp_path: Path) -> None:
    versions = Versions(tmp_path / "state", workspace)
    first = workspace.check({}).version
    added = skeleton("cart_idle", "cart_reminder_30m", set(workspace.files()))
    assert sorted(added) == ["messages/cart_reminder_30m.yaml", "triggers/cart_reminder_30m.yaml"]
    acknowledged = {d.name for d in versions.dangers(workspace.check(added), added)}
    versions.publish(added, "ann", "a 30-minute reminder", Review(frozenset(acknowledged)))
    assert (workspace.triggers_dir / "cart_reminder_30m.yaml").is_file()
    back = versions.rollback(0, "bo")
    assert back.config_version == first  # checked and recorded as the files really are after it
    assert workspace.check({}).version == first
    assert not (workspace.triggers_dir / "cart_reminder_30m.yaml").exists()
    assert not (workspace.messages_dir / "cart_reminder_30m.yaml").exists()
    assert back.changed == sorted(added)


def test_switching_off_what_customers_count_on_needs_an_acknowledgement(workspace: Workspace, tmp_path: Path) -> None:
    versions = Versions(tmp_path / "state", workspace)
    files = workspace.files()
    triggers = [name for name in files if name.startswith("triggers/") and not name.startswith("triggers/_")]
    off = {name: files[name].replace("enabled: true", "enabled: false") for name in triggers}
    assert all("enabled: false" in text for text in off.values())
    found = {d.name for d in versions.dangers(workspace.check(off), off)}
    # security and utility: customers count on them; a marketing trigger switched off hurts no one
    assert found == {"anomalous_login:turned_off", "logistics_delay:turned_off"}
    login = "triggers/anomalous_login.yaml"
    with pytest.raises(NeedsAcknowledgement, match="anomalous_login:turned_off"):
        versions.publish({login: off[login]}, "mallory", "fix a typo in the description")
    assert "enabled: true" in (workspace.triggers_dir / "anomalous_login.yaml").read_text(encoding="utf-8")


def test_the_package_directories_are_never_written(tmp_path: Path) -> None:
    demo = Path(__file__).parents[2] / "engagement" / "demo" / "triggers"
    shipped = Workspace(demo, default_messages_dir(), EngineSettings())
    assert shipped.read_only() is not None
    with pytest.raises(PublishRefused, match="belongs to the installed package"):
        Versions(tmp_path, shipped).publish({}, "ann", "note")


def test_backtest_progress_follows_both_sides_and_counts_the_customers(capsys: pytest.CaptureFixture[str]) -> None:
    report_progress(BacktestProgress("live", 0.5))
    report_progress(BacktestProgress("edit", 0.25, (40, 60)))
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["progress live 0.5000 0 0", "progress edit 0.2500 40 60"]
    job = Job("j", 0.0, 1.0)
    for line in lines:
        take_progress(job, line.split()[1:])
    assert job.progress == pytest.approx(0.625)  # the live side is the first half of the bar
    assert job.as_json()["customers"] == {"replayed": 40, "skipped": 60}
    kept = Job("k", 0.0, 1.0)
    take_progress(kept, lines[1].split()[1:])  # no live side: it was kept from an earlier backtest
    assert kept.progress == pytest.approx(0.25)
    assert kept.as_json()["phase"] == "edit"


def test_a_version_line_cut_short_by_a_crash_is_left_out_and_the_next_publish_stands(
    workspace: Workspace, tmp_path: Path
) -> None:
    """kill -9 half-way through appending a version: the versions stay readable and go on."""
    versions = Versions(tmp_path / "state", workspace)
    cart = workspace.files()["triggers/cart_idle.yaml"]
    versions.publish({"triggers/cart_idle.yaml": cart.replace("idle: 60m", "idle: 45m")}, "ann", "45")
    index = tmp_path / "state" / "console" / "versions.jsonl"
    with index.open("a", encoding="utf-8") as out:
        out.write('{"number": 2, "config_version": "ab')  # the crash
    assert [v.number for v in versions.history()] == [0, 1]
    versions.publish({"triggers/cart_idle.yaml": cart.replace("idle: 60m", "idle: 50m")}, "bo", "50")
    assert [(v.number, v.author) for v in versions.history()] == [(0, "engagement"), (1, "ann"), (2, "bo")]
    assert "idle: 50m" in versions.files_of(2)["triggers/cart_idle.yaml"]


def test_yaml_nested_too_deep_is_a_problem_of_its_file(workspace: Workspace) -> None:
    deep = "[" * 50_000
    assert fields_of(deep) == []
    checked = workspace.check({"triggers/deep.yaml": deep})
    assert checked.errors >= 1
    assert checked.problems[0].file == "triggers/deep.yaml"


def test_an_impossible_date_and_a_file_name_with_a_newline_are_refused_not_crashes(workspace: Workspace) -> None:
    checked = workspace.check(
        {"triggers/x.yaml": "id: x\nkind: cart_idle\nidle: 1h\nsend_within: 5m\ndescription: 2026-13-45\n"}
    )
    assert checked.errors >= 1
    assert any("not a date" in p.message for p in checked.problems)
    with pytest.raises(BadEdit, match="files are named"):
        workspace.check({"triggers/cart_idle.yaml\n": "id: x"})


def test_run_s_live_configuration_is_a_copy_under_the_state_directory(tmp_path: Path) -> None:
    """Publishing from a console of `run` with default settings wrote into the checkout's tracked
    files (and left them 0600): the live configuration is now a copy under the state directory."""
    shipped = {p.name: p.read_bytes() for p in default_triggers_dir().iterdir() if p.is_file()}
    settings = own_configuration(Settings(state_dir=tmp_path / "state"), tmp_path / "state")
    assert settings.triggers_dir == tmp_path / "state" / "config" / "triggers"
    assert settings.messages_dir == tmp_path / "state" / "config" / "messages"
    assert settings.triggers_dir is not None
    assert settings.messages_dir is not None
    cart = settings.triggers_dir / "cart_idle.yaml"
    os.chmod(cart, 0o644)
    live = Workspace(settings.triggers_dir, settings.messages_dir, EngineSettings())
    Versions(tmp_path / "state", live).publish(
        {"triggers/cart_idle.yaml": cart.read_text(encoding="utf-8").replace("idle: 60m", "idle: 45m")}, "ann", "45"
    )
    assert "idle: 45m" in cart.read_text(encoding="utf-8")
    assert stat.S_IMODE(cart.stat().st_mode) == 0o644  # publishing keeps a file's mode
    assert {p.name: p.read_bytes() for p in default_triggers_dir().iterdir() if p.is_file()} == shipped
    again = own_configuration(Settings(state_dir=tmp_path / "state"), tmp_path / "state")
    assert again.triggers_dir == settings.triggers_dir
    assert "idle: 45m" in cart.read_text(encoding="utf-8")  # seeded once, never overwritten
    chosen = own_configuration(Settings(state_dir=tmp_path / "s2", triggers_dir=tmp_path / "mine"), tmp_path / "s2")
    assert chosen.triggers_dir == tmp_path / "mine"


def test_an_edit_cannot_call_a_button_an_opt_out_that_opts_nobody_out(workspace: Workspace) -> None:
    """Found by an attack: `_lint.yaml` could name CHECKOUT an opt-out keyword, so a marketing
    message without its STOP button passed. Lint now asks for what really opts a customer out."""
    cart = workspace.files()["messages/cart_idle.yaml"]
    no_stop = cart.replace("{type: quick_reply, value: STOP,", "{type: quick_reply, value: LATER,")
    assert no_stop != cart
    checked = workspace.check({"messages/cart_idle.yaml": no_stop})
    assert any("must offer an opt-out" in p.message for p in checked.problems if p.severity == "error")
    relabelled = workspace.check(
        {"messages/cart_idle.yaml": no_stop, "messages/_lint.yaml": "opt_out_keywords: [LATER, STOP]\n"}
    )
    assert relabelled.errors >= 1


@pytest.mark.parametrize("erased_meanwhile", [False, True])
def test_a_backtest_whose_archive_was_read_before_an_erasure_keeps_no_live_side(
    workspace: Workspace, tmp_path: Path, erased_meanwhile: bool
) -> None:
    """The archive a backtest replays is read when it starts; a customer erased while it runs is
    in it, so its live side is not kept (an erasure empties what is kept only at that moment)."""
    state = tmp_path / "state"
    engine = workspace.check({}).engine
    assert engine is not None
    backtests = Backtests(workspace, lambda: engine, state)
    job = backtests.start({}, time.time() - 2 * 86_400, time.time())
    if erased_meanwhile:
        forget_kept(state)
    asyncio.run(backtests.run(job, {}, filled_carts(20, time.time() - 86_400)))
    assert job.state == "done", job.error
    kept = list((state / "console" / "baselines").glob("*.engagement-baseline"))
    assert kept == [] if erased_meanwhile else len(kept) == 1


def test_an_erasure_deletes_the_kept_entries_and_nothing_else(tmp_path: Path) -> None:
    kept = tmp_path / "console" / "baselines"
    kept.mkdir(parents=True)
    for name in ("a.engagement-baseline", ".writing-x1", "notes.txt"):
        (kept / name).write_bytes(b"x")
    assert forget_kept(tmp_path) == 2
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]  # a file not of the cache's own names stays
    assert forget_kept(tmp_path / "nowhere") == 0


def _cart_switched_off(workspace: Workspace) -> tuple[Engine, dict[str, str]]:
    """The live engine, and an edit that switches the cart reminder off (its sends move to none)."""
    engine = workspace.check({}).engine
    assert engine is not None
    cart = workspace.files()["triggers/cart_idle.yaml"]
    edit = {"triggers/cart_idle.yaml": cart.replace("enabled: true", "enabled: false")}
    assert edit["triggers/cart_idle.yaml"] != cart
    return engine, edit


def test_an_erasure_withdraws_the_example_customers_from_the_results_held(workspace: Workspace, tmp_path: Path) -> None:
    """A finished backtest's result names customers as examples of each move; once a customer is
    erased, no result this process holds names any (another console's results are not touched)."""
    state, elsewhere = tmp_path / "state", tmp_path / "elsewhere"
    engine, edit = _cart_switched_off(workspace)
    lines = [line + "\n" for line in filled_carts(6, time.time() - 86_400)]  # as the archive gives them
    held = [Backtests(workspace, lambda: engine, folder) for folder in (state, elsewhere)]
    jobs = []
    for backtests in held:
        job = backtests.start(edit, time.time() - 2 * 86_400, time.time())
        asyncio.run(backtests.run(job, edit, lines))
        assert job.state == "done", job.error
        jobs.append(job)
    shown = json.dumps(jobs[0].as_json())
    assert '"c-0"' in shown
    assert "e.g. c-0" in shown
    forget_kept(state)
    after = jobs[0].as_json()
    shown = json.dumps(after)
    assert not any(f'"c-{n}"' in shown or f"c-{n}," in shown or f"c-{n}\\n" in shown for n in range(6)), shown
    assert after["result"]["examples_withdrawn"] is True
    moves = [move for row in after["result"]["triggers"] for move in row["moves"]]
    assert moves
    assert all(move["examples"] == [] and move["count"] > 0 for move in moves)
    assert "withdrawn" in after["result"]["text"]
    assert "e.g. c-0" in json.dumps(jobs[1].as_json())  # another state directory's console


def test_a_backtest_finishing_after_an_erasure_holds_no_examples(workspace: Workspace, tmp_path: Path) -> None:
    state = tmp_path / "state"
    engine, edit = _cart_switched_off(workspace)
    backtests = Backtests(workspace, lambda: engine, state)
    job = backtests.start(edit, time.time() - 2 * 86_400, time.time())
    forget_kept(state)  # while it reads its archive: its result comes after the erasure
    seen_done: list[str] = []

    async def poll() -> None:  # as the page does, until it sees the job done
        while job.state not in {"done", "failed"}:
            await asyncio.sleep(0)
        seen_done.append(json.dumps(job.as_json()))

    async def both() -> None:
        await asyncio.gather(
            backtests.run(job, edit, [line + "\n" for line in filled_carts(6, time.time() - 86_400)]), poll()
        )

    asyncio.run(both())
    assert job.state == "done", job.error
    assert "c-0" not in seen_done[0]  # never shown done with the examples
    assert job.result is not None
    assert job.result["examples_withdrawn"] is True
    assert sum(row["lost"] for row in job.result["triggers"]) + job.result["decisions"][0] > 0  # it did decide
    assert "c-0" not in json.dumps(job.result)
