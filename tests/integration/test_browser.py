"""A real headless Chromium sees the champion's pre-annotation in Label Studio's labelling UI.

The data takes the loop's own route: digit PNGs and clean rows in the stack's local
DataStore (the folder Label Studio serves local files from), a labels version, the
retrain flow promoting a champion, and the push flow creating the project, connecting
the local-files storage and attaching the champion's predictions. The browser is
Debian's `chromium` driven through Debian's `chromium-driver`: nothing downloads one.
A screenshot of the labelling page is kept under `test-artifacts/browser/`. The
Data Manager tab of disputed labels (the monitor flow) is opened the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from label_studio_sdk import LabelStudio
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from sklearn.datasets import load_digits

from annotation.config import build_label_config
from annotation.media import local_file_url
from annotation.predictions import choice_result
from annotation.review import REVIEW_VIEW_TITLE
from annotation.versions import labels_frame
from blocks import DataStore
from demo.bot import oracle_labels
from demo.digits import digit_png
from flows.annotate import PushParams, push_batch
from flows.train import TrainParams, retrain_model
from monitoring.review import ReviewRequest
from specs import DIGITS, TEXTS, DatasetSpec
from storage.layout import raw_file_key
from tasks.label_studio import ensure_review_view
from tasks.state import write_labels_version
from tests.conftest import Stack

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
N_LABELLED = 200
N_PUSHED = 3
UI_TIMEOUT_S = 60
# A single-choice <Choices> renders radios (ant-radio-input), a multiple one checkboxes.
CHOICES = ".lsf-choice__checkbox input[name]"
LOAD_ERROR = "There was an issue loading URL"


@pytest.fixture
def spec(unique: str) -> DatasetSpec:
    return DIGITS.model_copy(update={"name": unique})


@pytest.fixture
def store(stack: Stack, spec: DatasetSpec) -> Iterator[DataStore]:
    """The stack's local store (Label Studio's document root); this test's keys removed after."""
    store = DataStore(base_path=str(stack.settings.data_dir))
    yield store
    for key in store.list_keys():
        if spec.name in key.split("/") or key.split("/")[-1].startswith(f"{spec.name}."):
            store.delete(key)
    root = Path(store.base_path)
    folders = [p for p in root.rglob("*") if p.is_dir() and spec.name in p.relative_to(root).parts]
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        folder.rmdir()  # empty by now: a leftover file fails the cleanup loudly


@pytest.fixture
def project_cleanup(ls: LabelStudio, spec: DatasetSpec) -> Iterator[None]:
    yield
    for project in ls.projects.list(title=spec.name):
        if project.title == spec.name:
            ls.projects.delete(id=project.id)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Debian Chromium; missing it skips locally and fails under CI."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        message = f"Debian's chromium and chromium-driver are needed: {', '.join(missing)} missing"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _write_digits(store: DataStore, spec: DatasetSpec) -> pd.DataFrame:
    """PNGs under raw/<name>/files/ and one clean batch, as collect + cleanse leave them.

    Returns:
        The clean rows plus each digit's true label.
    """
    digits = load_digits()
    rows = []
    for image, target in zip(digits.images, digits.target, strict=True):
        data = digit_png(image)
        checksum = hashlib.sha256(data).hexdigest()
        key = raw_file_key(spec.name, checksum, ".png")
        rows.append(
            {
                "item_id": checksum[:32],
                "key": key,
                "size": len(data),
                "checksum": checksum,
                "truth": str(target),
                "png": data,
            }
        )
        if len({r["item_id"] for r in rows}) == N_LABELLED + N_PUSHED:
            break
    frame = pd.DataFrame(rows).drop_duplicates(subset="item_id").reset_index(drop=True)
    for row in frame.itertuples():
        store.write_bytes(row.key, row.png)
    clean = frame[["item_id", "key", "size", "checksum"]]
    store.write_parquet(f"clean/{spec.name}/b1.parquet", clean)
    return frame.drop(columns="png")


def _promote_champion(store: DataStore, spec: DatasetSpec, labelled: pd.DataFrame) -> str:
    """A labels version for `labelled`, then the retrain flow; returns the champion's version."""
    now = dt.datetime.now(dt.UTC)
    labels = oracle_labels(dict(zip(labelled["item_id"], labelled["truth"], strict=True)), now)
    write_labels_version.fn(store, spec.name, labels_frame(labels, []), now)
    result = retrain_model(TrainParams(dataset=spec), store=store)
    assert result.status == "promoted", result.message
    return str(result.version)


def _log_in(driver: WebDriver, url: str, email: str, password: str) -> None:
    driver.get(f"{url}/user/login/")
    driver.find_element(By.CSS_SELECTOR, "input[name=email]").send_keys(email)
    driver.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, UI_TIMEOUT_S).until(lambda d: "/user/login" not in d.current_url)


def _checked_choices(driver: WebDriver) -> list[str]:
    return [
        str(box.get_attribute("name"))
        for box in driver.find_elements(By.CSS_SELECTOR, CHOICES)
        if box.is_selected()
    ]


def _image_size(driver: WebDriver) -> tuple[int, int]:
    """The decoded size of the labelling area's image ((0, 0) while it is not loaded)."""
    size = driver.execute_script(
        "const i = document.querySelector('.lsf-image img');"
        "return i && i.complete ? [i.naturalWidth, i.naturalHeight] : [0, 0];"
    )
    return int(size[0]), int(size[1])


def _shows_version(text: str, version: str) -> bool:
    """The tab shows `version` whole, or abbreviated as `<head>...<tail>`."""
    head, dots, tail = text.partition("...")
    if not dots:
        return text == version
    return bool(head and tail) and version.startswith(head) and version.endswith(tail)


def test_the_labelling_ui_shows_the_champions_choice_on_the_digit(
    prefect_server: str,
    stack: Stack,
    ls: LabelStudio,
    spec: DatasetSpec,
    store: DataStore,
    project_cleanup: None,
    browser: WebDriver,
) -> None:
    frame = _write_digits(store, spec)
    champion = _promote_champion(store, spec, frame.iloc[:N_LABELLED])

    pushed = push_batch(
        PushParams(dataset=spec, batch_size=N_PUSHED), store=store, credentials=stack.label_studio()
    )
    assert (pushed.imported, pushed.predictions, pushed.model_version) == (
        N_PUSHED,
        N_PUSHED,
        champion,
    )
    task = next(iter(ls.tasks.list(project=pushed.project_id, fields="all")))
    (prediction,) = ls.predictions.list(task=task.id)
    assert prediction.model_version == champion
    predicted = prediction.result[0]["value"]["choices"]
    assert len(predicted) == 1 and predicted[0] in spec.labels.labels

    key = frame.set_index("item_id").loc[task.data["item_id"], "key"]
    assert task.data[spec.labels.data_key] == local_file_url(key)
    png_size = Image.open(io.BytesIO(store.read_bytes(key))).size

    url = stack.settings.label_studio_url
    screenshot = ARTIFACTS / f"labelling-{spec.name}.png"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        _log_in(
            browser,
            url,
            stack.credentials.label_studio_username,
            stack.credentials.label_studio_password.get_secret_value(),
        )
        browser.get(f"{url}/projects/{pushed.project_id}/data?task={task.id}")
        try:
            WebDriverWait(browser, UI_TIMEOUT_S).until(
                lambda d: _checked_choices(d) and _image_size(d) != (0, 0)
            )
        except TimeoutException:
            pytest.fail(
                f"labelling UI of task {task.id}: checked {_checked_choices(browser)}, "
                f"image size {_image_size(browser)}, "
                f"load error shown {LOAD_ERROR in browser.page_source}"
            )
        # The digit itself, served by Label Studio from the local store.
        assert _image_size(browser) == png_size
        assert LOAD_ERROR not in browser.page_source
        # The pre-annotation: the champion's choice is the one checked, among all ten.
        assert _checked_choices(browser) == predicted
        shown = [b.get_attribute("name") for b in browser.find_elements(By.CSS_SELECTOR, CHOICES)]
        assert sorted(shown) == sorted(spec.labels.labels)
        # The prediction's tab names the champion's version and shows its score.
        tab = browser.find_element(
            By.CSS_SELECTOR, f'.lsf-annotation-button[data-annotation-id="{prediction.id}"]'
        )
        name = tab.find_element(By.CSS_SELECTOR, ".lsf-annotation-button__name").text
        assert _shows_version(name, champion), (name, champion)
        score = tab.find_element(By.CSS_SELECTOR, 'span[title^="Prediction score"]').text
        assert abs(float(score.strip(" ·%")) - 100 * prediction.score) < 0.006, score
    finally:
        browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 0


def test_the_disputed_labels_tab_opens_in_the_data_manager(
    prefect_server: str, stack: Stack, ls: LabelStudio, unique: str, browser: WebDriver
) -> None:
    """The tab the monitor flow keeps lists the waiting tasks in the Data Manager UI (a
    filter the API accepts can still break the UI: `in_list` made it show no tab at all)."""
    config = build_label_config(TEXTS.labels)
    project = ls.projects.create(title=unique, label_config=config.xml)
    try:
        imported = ls.projects.import_tasks(
            id=project.id,
            request=[{"item_id": f"i{n}", "text": f"text {n}"} for n in range(3)],
            return_task_ids=True,
        )
        task_ids = [int(t) for t in imported.task_ids]
        annotations = [
            int(ls.annotations.create(id=t, result=choice_result(config, "positive")).id)
            for t in task_ids
        ]
        now = dt.datetime.now(dt.UTC)
        waiting = [
            ReviewRequest(
                item_id=f"i{n}",
                task_id=task_ids[n],
                labels_version="v1",
                model_version="m1",
                label="positive",
                model_label="negative",
                model_probability=0.97,
                annotation_ids=(annotations[n],),
                annotators=1,
                last_annotated_at=now,
                requested_at=now,
            )
            for n in (0, 2)
        ]
        view_id = ensure_review_view(ls, project.id, waiting)
        assert {int(t.id) for t in ls.tasks.list(project=project.id, view=view_id)} == {
            task_ids[0],
            task_ids[2],
        }

        url = stack.settings.label_studio_url
        _log_in(
            browser,
            url,
            stack.credentials.label_studio_username,
            stack.credentials.label_studio_password.get_secret_value(),
        )
        browser.get(f"{url}/projects/{project.id}/data?tab={view_id}")
        try:
            WebDriverWait(browser, UI_TIMEOUT_S).until(
                lambda d: "Tasks: 2 / 3" in d.find_element(By.TAG_NAME, "body").text
            )
        except TimeoutException:
            pytest.fail(f"the Data Manager did not list 2 of 3 tasks in tab {view_id}")
        assert REVIEW_VIEW_TITLE in browser.find_element(By.TAG_NAME, "body").text
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "disputed-labels-tab.png"))
        ls.projects.delete(id=project.id)
