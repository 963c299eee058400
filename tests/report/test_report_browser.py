"""The report of a small real run, opened in headless Chromium (Debian's chromium and chromium-driver,
installed by scripts/browser/install): no console error, every image loads, every table's numbers equal
the Markdown table's, the pair browser moves and switches weights, the side-by-side view shows three
answers. A screenshot of each view is kept in $ASPO_TEST_ARTEFACTS (default: the test's tmp directory).

Where Chromium is missing the test runs scripts/browser/install (apt-get, as root); where that cannot
install it, the test fails, unless ASPO_NO_BROWSER=1 says the browser is deliberately unavailable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "orchestration"))
from launch_helpers import TINY_PLAN  # noqa: E402  (Table 1's plan with tiny budgets, shared with the launcher tests)

pytestmark = pytest.mark.slow
INSTALL = Path(__file__).resolve().parents[2] / "scripts" / "browser" / "install"
VIEWS = ("tables", "figures", "pairs", "outputs", "training", "provenance")
# Trained far enough that DPO and ASPO answer otherwise than their base model on any world, so that the
# tables have changes to colour (at the launcher tests' 2 steps, one kind of CPU's world changed no answer).
MOVING_PLAN = TINY_PLAN.replace("overrides: {max_steps: 2}", "overrides: {max_steps: 12, learning_rate: 2.0e-3}")
assert MOVING_PLAN != TINY_PLAN


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "aspo_repro", *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> dict:
    """Table 1 of mini-llava-s on the cached mini world with tiny budgets, every table rendered (the paper's and
    the mini Table 1 with each scorer), and its report."""
    root = tmp_path_factory.mktemp("report")
    (root / "tiny.yaml").write_text("description: Table 1's plan with tiny budgets (the report's browser test).\n" + MOVING_PLAN)
    cli(root, "reproduce", "--table", "1", "--profile", "tiny.yaml", "--models", "mini-llava-s",
        "--work-dir", "work", "--results", "results", "--tables-dir", "tables")
    cli(root, "tables", "--table", "all", "--table", "1-scorers", "--profile", "mini", "--results", "results",
        "--out", "tables")
    started = time.perf_counter()
    cli(root, "report", "--profile", "tiny.yaml", "--results", "results", "--work-dir", "work", "--out", "site")
    return {"root": root, "index": root / "site" / "index.html", "report_seconds": time.perf_counter() - started}


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("ASPO_NO_BROWSER") == "1":
        pytest.skip("ASPO_NO_BROWSER=1: the browser is deliberately unavailable here")
    if any(shutil.which(name) is None for name in ("chromium", "chromedriver")):  # the test setup installs them
        installed = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True)
        assert installed.returncode == 0, f"{installed.stderr.strip()} (or set ASPO_NO_BROWSER=1)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("ASPO_TEST_ARTEFACTS") or tmp_path_factory.mktemp("artefacts")) / "report"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def show(browser, index: Path, view: str) -> None:
    browser.get(index.as_uri() + "#" + view)
    browser.execute_script("window.dispatchEvent(new HashChangeEvent('hashchange'))")
    wait_for(browser, f"return !document.getElementById('{view}').hidden")


def wait_for(browser, script: str, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = browser.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def markdown_cells(path: Path) -> list[list[str]]:
    """The value cells of a Markdown table's rows (the lines after its |---| separator, label cells included)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| ---"))
    rows = []
    for line in lines[start + 1:]:
        if not line.startswith("| "):
            break
        cells = line[2:-2].replace("\\|", "\0").split(" | ")
        rows.append([cell.replace("\0", "|") for cell in cells])
    return rows


def test_the_report_of_a_small_run_in_chromium(small_run, browser, artefacts):
    index, root = small_run["index"], small_run["root"]
    size = sum(p.stat().st_size for p in index.parent.rglob("*") if p.is_file())
    print(f"report built in {small_run['report_seconds']:.1f} s, {size / 1e6:.2f} MB")

    show(browser, index, "tables")
    tables = browser.execute_script(
        "return Array.from(document.querySelectorAll('article.table')).map(a => [a.dataset.table,"
        " Array.from(a.querySelectorAll('table.results tbody tr')).map(tr => Array.from(tr.children).map(c => c.textContent.trim()))])")
    assert {name for name, _ in tables} == {"table1", "table1-scorers", "table2", "table5", "table6"}
    for name, rows in tables:
        assert rows == markdown_cells(root / "tables" / f"{name}.md"), name
    coloured = browser.execute_script("return document.querySelectorAll('td.cell[class*=\"base-\"]').length")
    assert coloured > 0, "no cell is coloured by its change over base"
    browser.save_screenshot(str(artefacts / "tables.png"))

    browser.find_element("css selector", "article.table tr[data-runs*=\"/\"] td.cell").click()
    wait_for(browser, "return document.querySelectorAll('table.provenance tr.selected').length")
    browser.save_screenshot(str(artefacts / "provenance.png"))

    show(browser, index, "figures")
    browser.save_screenshot(str(artefacts / "figures.png"))

    show(browser, index, "pairs")
    first = wait_for(browser, "const p = document.querySelector('article.pair'); return p && p.dataset.pair")
    shading = browser.execute_script("return Array.from(document.querySelectorAll('article.pair .sentence')).map(s => s.style.backgroundColor)")
    assert any(shading), "no chosen sentence is shaded by its weight"
    verdicts = browser.execute_script("return document.querySelectorAll('article.pair .verdict').length")
    assert verdicts > 0, "no sentence carries the exact judge's verdict"
    browser.save_screenshot(str(artefacts / "pairs.png"))
    browser.find_element("id", "pair-next").click()
    second = wait_for(browser, f"const p = document.querySelector('article.pair'); return p && p.dataset.pair !== '{first}' && p.dataset.pair")
    assert second != first
    weights = browser.execute_script("return Array.from(document.getElementById('pair-weight').options).map(o => o.value)")
    assert set(weights) >= {"S", "P", "S+P"}
    before = browser.execute_script("return Array.from(document.querySelectorAll('article.pair sub.weight')).map(s => s.textContent).join()")
    browser.execute_script("const s = document.getElementById('pair-weight'); s.value = 'S'; s.dispatchEvent(new Event('change'))")
    wait_for(browser, "return document.querySelector('article.pair h4:nth-of-type(2)').textContent.includes('shaded by S)')")
    after = browser.execute_script("return Array.from(document.querySelectorAll('article.pair sub.weight')).map(s => s.textContent).join()")
    assert before != after, "switching the weight did not change the shading"
    browser.execute_script("const s = document.getElementById('pair-filter'); s.value = 'disagree'; s.dispatchEvent(new Event('change'))")
    browser.save_screenshot(str(artefacts / "pairs-disagree.png"))

    show(browser, index, "outputs")
    outputs = wait_for(browser, "return Array.from(document.querySelectorAll('#sample-view .output h4')).map(h => h.textContent)")
    assert outputs[:3] == ["base", "dpo", "aspo"], outputs
    browser.save_screenshot(str(artefacts / "outputs.png"))

    show(browser, index, "training")
    browser.save_screenshot(str(artefacts / "training.png"))

    for view in VIEWS:  # every image of every view loads
        show(browser, index, view)
        broken = browser.execute_script(
            "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
        assert not broken, broken
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
