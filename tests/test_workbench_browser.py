"""The workbench as an analyst uses it: JupyterLab on 127.0.0.1, Debian's chromium driven by
Playwright, every cell of both workbench notebooks run from the menu, the widgets rendered as
controls, a lever moved and reset, a customer found by typing its id. Screenshots stay in the
test's temporary folder. A control proves the checks catch a notebook whose widget fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid

import nbformat
import pytest
from helpers import ROOT, free_port

pytestmark = pytest.mark.slow

if shutil.which("chromium") is None:
    if os.environ.get("CREDITLAB_REQUIRE_BROWSER"):
        raise RuntimeError("chromium is required here (CREDITLAB_REQUIRE_BROWSER is set)")
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (dev extra)")


@pytest.fixture(scope="module")
def lab(weekly_run, tmp_path_factory):
    """A JupyterLab server over copies of the workbench notebooks set to the shared run (the cell
    papermill would inject), and a broken notebook for the control; yields the lab's base URL."""
    root = tmp_path_factory.mktemp("lab")
    for name in ("whatif.ipynb", "customer_360.ipynb"):
        nb = nbformat.read(ROOT / "notebooks" / "explore" / name, as_version=4)
        nb.cells.insert(2, nbformat.v4.new_code_cell(f"run_dir = {str(weekly_run)!r}"))
        nbformat.write(nb, root / name)
    broken = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        }
    )
    broken.cells = [  # a widget that cannot be built (a slider given text)
        nbformat.v4.new_code_cell("import ipywidgets as w"),
        nbformat.v4.new_code_cell('w.FloatSlider(value="the run\'s LGD")'),
    ]
    nbformat.write(broken, root / "broken.ipynb")
    port, token = free_port(), uuid.uuid4().hex
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start")
        yield base, token
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture()
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield b
        b.close()


def _open_and_run(browser, lab, name: str):
    """Open a notebook in JupyterLab, run every cell from the Run menu, wait for the kernel."""
    base, token = lab
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(f"{base}/lab/workspaces/{uuid.uuid4().hex}/tree/{name}?token={token}")  # a clean one
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=90_000)
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)  # kernel ready
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    # done when every code cell has its execution count, or a cell failed (the run stops there)
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            const failed = [...document.querySelectorAll('.jp-OutputArea-output')]
                .some(o => o.innerText.includes('Traceback'));
            return (prompts.length && prompts.every(p => /\\[\\d+\\]/.test(p.innerText))) || failed;
        }""",
        timeout=300_000,
    )
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
    time.sleep(1.5)  # widget views render after the kernel went idle
    return page


def _problems(page) -> list[str]:
    """What an analyst would see go wrong: failed widgets, tracebacks, text reprs, page errors."""
    text = page.locator(".jp-Notebook").inner_text()
    found = [f"page: {e}" for e in page.errors if "favicon" not in e]
    for bad in ("Error displaying widget", "Traceback", "Workbench(children=", "VBox(children="):
        if bad in text:
            found.append(f"notebook shows {bad!r}")
    return found


def _ecl_row(page) -> tuple[str, str]:
    """The what-if widget's ECL row as shown: (Run, What-if)."""
    row = page.locator("table.cl-table tr", has_text="ECL (").first
    cells = row.locator("td").all_inner_texts()
    return cells[-2], cells[-1]


def test_the_checks_catch_a_widget_that_fails(browser, lab, tmp_path):
    page = _open_and_run(browser, lab, "broken.ipynb")
    page.screenshot(path=str(tmp_path / "broken.png"))
    assert any("Traceback" in p for p in _problems(page))


def test_whatif_notebook_moves_a_lever_and_resets_in_a_real_browser(browser, lab, tmp_path):
    page = _open_and_run(browser, lab, "whatif.ipynb")
    assert _problems(page) == []
    for control in ("Mean LGD", "PD stress (all)", "Reset to the run", "Recompute", "Check"):
        assert page.get_by_text(control, exact=True).first.is_visible(), control
    cutoff = page.locator(".widget-dropdown", has_text="Credit up to").locator("select")
    shown = cutoff.evaluate("s => s.options[s.selectedIndex].text")
    assert shown.replace("\xa0", " ") == "no cut-off"  # the run's setting is shown, not a blank
    run, now = _ecl_row(page)
    assert run == now  # the levers hold the run's values: nothing moved yet
    slider = page.locator(".widget-slider", has_text="PD stress (all)")
    readout = slider.locator(".widget-readout")
    readout.click()
    readout.press("Control+a")
    readout.type("2.5")
    readout.press("Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('table.cl-table tr')].some(r => r.innerText.startsWith('ECL') && r.cells[1].innerText !== r.cells[2].innerText)",
        timeout=30_000,
    )
    run2, stressed = _ecl_row(page)
    assert run2 == run and stressed != run
    page.screenshot(path=str(tmp_path / "whatif_stressed.png"), full_page=True)
    page.get_by_text("Reset to the run", exact=True).click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('table.cl-table tr')].some(r => r.innerText.startsWith('ECL') && r.cells[1].innerText === r.cells[2].innerText)",
        timeout=30_000,
    )
    assert _ecl_row(page) == (run, run)
    assert float(readout.inner_text()) == 1.0
    assert _problems(page) == []
    page.screenshot(path=str(tmp_path / "whatif_reset.png"))


def test_customer_360_finds_a_typed_id_in_a_real_browser(browser, lab, weekly_run, tmp_path):
    import pandas as pd

    cid = str(pd.read_parquet(weekly_run / "decision_table.parquet")["customer_id"].iloc[3])
    page = _open_and_run(browser, lab, "customer_360.ipynb")
    assert _problems(page) == []
    assert page.get_by_text("Pick a customer").first.is_visible()
    box = page.get_by_placeholder("customer id or name").first
    box.fill(cid)
    box.press("Enter")
    page.get_by_text("Review of", exact=False).first.wait_for(timeout=60_000)
    # the profile table names it (not the search box's hidden list of suggestions)
    page.locator(".jp-OutputArea-output table td").get_by_text(cid, exact=True).first.wait_for(
        timeout=30_000
    )
    box.fill("no such customer")
    box.press("Enter")
    page.get_by_text("No customer matches").first.wait_for(timeout=30_000)
    assert _problems(page) == []
    page.screenshot(path=str(tmp_path / "customer_360.png"), full_page=True)
    assert (tmp_path / "customer_360.png").stat().st_size > 10_000
