"""The report's HTML page in a real browser (headless Chromium): its plots are drawn, its table is
read, and it needs nothing from the network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from engagement.cli import main
from tests.browser.chromium import chromium, full_page_screenshot

SAMPLE = Path(__file__).parents[2] / "engagement" / "samples" / "events.jsonl"


def test_the_report_page_shows_its_table_and_three_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "report.html"
    assert main(["report", str(SAMPLE), "--jobs", "1", "--html", str(page), "--json"]) == 0
    reported = {row["trigger"] for row in json.loads(capsys.readouterr().out)}
    with chromium() as browser:
        browser.get(page.as_uri())
        assert browser.title == "engagement report"
        rows = browser.find_elements(By.CSS_SELECTOR, "table tbody tr")
        names = {row.find_element(By.TAG_NAME, "td").text for row in rows}
        assert names == reported
        assert "cart_idle" in names
        figures = browser.find_elements(By.CSS_SELECTOR, "figure svg")
        assert len(figures) == 3
        for figure in figures:
            assert figure.size["width"] > 300
            assert figure.size["height"] > 100
        # a page that needed the network would have asked for it: only the file itself was loaded
        loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded == []
        shot = tmp_path / "report.png"
        full_page_screenshot(browser, shot)
        assert shot.stat().st_size > 20_000
