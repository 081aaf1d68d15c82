"""Headless Chromium for the report page: which of its images a real browser loaded, and a screenshot.

The page itself stays script-free: a checker page opens it in an iframe and lists its images' load state,
and `--dump-dom` prints that list once the page has settled.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

CHECKER = """<!DOCTYPE html><html><body><iframe id="page" src="{page}" width="1400" height="900"></iframe>
<pre id="result">pending</pre><script>
document.getElementById("page").addEventListener("load", () => {{
  const images = [...document.getElementById("page").contentDocument.images];
  document.getElementById("result").textContent = JSON.stringify(images.map(i => ({{
    name: i.getAttribute("title") || i.getAttribute("src").slice(0, 60),
    loaded: i.complete && i.naturalWidth > 0, width: i.naturalWidth, height: i.naturalHeight}})));
}});
</script></body></html>
"""


def chromium() -> str:
    """The browser's path; skips the test when it is missing, unless RECIPE_REQUIRE_BROWSER=1 (CI)."""
    found = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                 None)
    if found is None:
        if os.environ.get("RECIPE_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed; run .ci/editor.sh")
        pytest.skip("chromium not installed (bash .ci/editor.sh installs it)")
    return found


def _run(args: list[str]) -> str:
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
    out = subprocess.run([chromium(), *flags, *args], capture_output=True, text=True, timeout=120)
    return out.stdout


def images_loaded(page: Path) -> list[dict[str, Any]]:
    """Each `<img>` of the page as the browser saw it: name, loaded, natural width and height."""
    checker = page.parent / f".check-{page.stem}.html"
    checker.write_text(CHECKER.format(page=page.name))
    try:
        dom = _run(["--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom",
                    checker.resolve().as_uri()])
    finally:
        checker.unlink()
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    assert found and found.group(1) != "pending", f"the page did not load in Chromium: {dom[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def screenshot(page: Path, shot: Path, height: int = 4000) -> Path:
    _run([f"--screenshot={shot}", f"--window-size=1400,{height}", page.resolve().as_uri()])
    assert shot.is_file() and shot.read_bytes()[:4] == b"\x89PNG", "Chromium wrote no screenshot"
    return shot


def check_report_page(folder: Path, shot: Path) -> list[dict[str, Any]]:
    """`report.html` in `folder` stands alone (every PNG inline, nothing fetched) and a real browser shows
    every image; the screenshot goes to `shot` for a person to look at."""
    page = folder / "report.html"
    text = page.read_text()
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert re.findall(r'<img src="data:image/png;base64,[^"]+" alt="[^"]*" title="([^"]+)"', text) == [
        n for n in re.findall(r'title="([^"]+\.png)"', text)]
    assert sorted(re.findall(r'title="([^"]+\.png)"', text)) == pngs
    assert not re.search(r'(src|href)="(?!data:)', text), "report.html refers to a file outside itself"
    seen = images_loaded(page)
    assert sorted(i["name"] for i in seen) == pngs
    assert all(i["loaded"] and i["width"] > 100 and i["height"] > 100 for i in seen), seen
    screenshot(page, shot)
    return seen
