"""``kedro scanflow label`` for real: the command prints a token, a headless Chromium
labels digits on the page with the keyboard, and the label store has the answers; calls
without the token, and answers that make no sense, are refused."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from kedro_scanflow.human import LabelStore, Proposals
from kedro_scanflow.io import IdxImageDataset

from .conftest import REPO_ROOT, free_port

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("SCANFLOW_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
DIGITS = REPO_ROOT / "data/01_raw/mnist_5k"
LABELS, FIND = "critical-labels", "critical-matches"


@pytest.fixture
def digits() -> tuple[np.ndarray, np.ndarray]:
    mnist = IdxImageDataset(
        filepath=str(DIGITS / "images-idx3-ubyte.gz"),
        labels_filepath=str(DIGITS / "labels-idx1-ubyte.gz"),
    ).load()
    return mnist.images[:40], mnist.labels[:40]


@pytest.fixture
def label_page(toy_project, digits, tmp_path):
    """The labeling page of a store with a label task and a Human Finder task."""
    images, labels = digits
    store = LabelStore(tmp_path / "labels")
    store.create_task(
        LABELS,
        images[:4],
        classes=range(10),
        predictions=[1, 2, 3, 4],
        scores=[0.9, 0.8, 0.7, 0.6],
        sample_ids=[10, 11, 12, 13],
    )
    store.create_task(
        FIND,
        images[4:6],
        kind="find",
        proposals=[Proposals((20, 21, 22), images[20:23]), Proposals((30, 31, 32), images[30:33])],
    )
    port = free_port()
    process = toy_project.start_kedro(
        "scanflow", "label", "--port", str(port), "--store", str(store.root)
    )
    try:
        address = _printed_address(process)
        yield store, address, port
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except Exception:  # noqa: BLE001
            process.kill()


def _printed_address(process) -> str:
    deadline = time.time() + 120
    seen = []
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        found = re.search(r"(http://127\.0\.0\.1:\d+/\?token=[\w-]+)", line)
        if found:
            address = found.group(1)
            _wait_until_up(address)
            return address
    raise AssertionError("kedro scanflow label printed no address:\n" + "".join(seen))


def _wait_until_up(address: str) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(address.split("?", maxsplit=1)[0], timeout=5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{address} never answered")


def _call(
    port: int, path: str, body: dict | None = None, token: str | None = None
) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Scanflow-Token"] = token
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_the_page_labels_with_the_keyboard_and_the_store_keeps_every_answer(label_page):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    store, address, _ = label_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.goto(f"{address}#task={LABELS}")
            expect(page.locator("#caption")).to_contain_text(
                "sample 10: model says 1, criticality 0.9000"
            )
            expect(page.locator("#choices button")).to_have_count(10)
            page.keyboard.press("3")
            expect(page.locator("#caption")).to_contain_text("sample 11")
            page.keyboard.press("s")
            expect(page.locator("#caption")).to_contain_text("sample 12")
            page.keyboard.press("7")
            expect(page.locator("#count")).to_have_text("2 answered, 1 skipped, 1 to go")
            page.keyboard.press("u")  # undo the 7
            expect(page.locator("#caption")).to_contain_text("sample 12")
            expect(page.locator("#count")).to_have_text("1 answered, 1 skipped, 2 to go")
            page.keyboard.press("8")
            page.keyboard.press("g")
            expect(page.locator("#grid figure")).to_have_count(4)
            expect(page.locator("#grid figure.answered")).to_have_count(3)
            screenshot = ARTIFACTS / "labeling-page-grid.png"
            page.screenshot(path=str(screenshot))
            print(f"screenshot: {screenshot}")

            page.keyboard.press("g")  # back to one sample at a time
            page.goto(f"{address}#task={FIND}")
            expect(page.locator("#choices figure")).to_have_count(3)
            page.screenshot(path=str(ARTIFACTS / "labeling-page-finder.png"))
            page.keyboard.press("2")  # the second proposal is the most similar
            expect(page.locator("#choices figure")).to_have_count(3)
            expect(page.locator("#choices figure figcaption").first).to_have_text("1: sample 30")
            page.keyboard.press("n")
            expect(page.locator("#caption")).to_contain_text("Every item of this task is answered")
        finally:
            browser.close()

    answers = {item_id: record.value for item_id, record in store.answers(LABELS).items()}
    assert answers == {"10": 3, "12": 8}
    task = store.task(LABELS)
    assert task.item("11").status.value == "skipped" and task.item("13").status.value == "pending"
    history = [(event.item_id, event.event, event.value) for event in store.history(LABELS)]
    assert history == [
        ("10", "answered", 3),
        ("11", "skipped", None),
        ("12", "answered", 7),
        ("12", "undone", None),
        ("12", "answered", 8),
    ]
    assert {record.annotator for record in store.answers(LABELS).values()} == {"labeling-page"}
    finder = {item_id: record.value for item_id, record in store.answers(FIND).items()}
    assert finder == {"0": 21, "1": "none"}
    assert screenshot.stat().st_size > 10_000


def test_every_call_needs_the_token_and_answers_are_validated(label_page):
    store, address, port = label_page
    token = address.split("token=")[1]
    assert _call(port, "/api/tasks")[0] == 403
    status, refused = _call(
        port, f"/api/tasks/{LABELS}/answer", {"item_id": "10", "value": 3}, token="wrong"
    )
    assert status == 403 and "token" in refused["error"]
    assert store.progress(LABELS).answered == 0, "a refused call changes nothing"

    status, listed = _call(port, "/api/tasks", token=token)
    assert status == 200 and {t["name"] for t in listed["tasks"]} == {LABELS, FIND}
    assert (
        _call(port, f"/api/tasks/{LABELS}/answer", {"item_id": "10", "value": 11}, token=token)[0]
        == 422
    )
    assert (
        _call(port, f"/api/tasks/{LABELS}/answer", {"item_id": "99", "value": 1}, token=token)[0]
        == 404
    )
    assert _call(port, f"/api/tasks/{LABELS}/answer", {"value": 1}, token=token)[0] == 400
    assert _call(port, "/api/tasks/no-such-task", token=token)[0] == 404
    assert (
        _call(port, f"/api/tasks/{LABELS}/answer", {"item_id": "10", "value": 4}, token=token)[0]
        == 200
    )
    status, conflict = _call(
        port, f"/api/tasks/{LABELS}/answer", {"item_id": "10", "value": 5}, token=token
    )
    assert status == 409, conflict
    assert store.answers(LABELS)["10"].value == 4, "an answered item is not silently overwritten"
    status, wrong_kind = _call(
        port, f"/api/tasks/{FIND}/answer", {"item_id": "0", "value": 99}, token=token
    )
    assert status == 422, "a finder answer must be one of the proposals or 'none'"
