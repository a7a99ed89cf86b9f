"""The course website (`make book`, tools/book.py): built from notebooks that were already executed,
and looked at in a real browser.

By default the site is built from two tiny stand-in lessons, executed here (a figure, math, a
markdown table, an exercise whose check prints ✗, and a page about attention for the search).
With ``E2EDL_BOOK_HTML=build/book/html`` the browser tests look at an already built site instead
(CI points them at the real one after `make book`).

The browser is Debian's Chromium driven by Playwright (its own browser downloads are not used):
every lesson page loads with no console error, its figures decode, and no request leaves
localhost; search finds "attention" and leads to the ViT lesson; every internal link resolves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import nbformat
import pytest

pytest.importorskip("myst_nb", reason="the site needs sphinx and myst-nb: pip install -e '.[docs]'")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book  # noqa: E402

pytestmark = pytest.mark.slow
PREBUILT = os.environ.get("E2EDL_BOOK_HTML")
SQUARE_STUB = "def square(x):\n    raise NotImplementedError  # your code here"
SQUARE_CHECK = 'try:\n    square(3)\nexcept NotImplementedError:\n    print("✗ square: not written yet")'


def _stand_in(title: str, prose: str, figure: str) -> nbformat.NotebookNode:
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    exercise = code(SQUARE_STUB)
    exercise.metadata["tags"] = ["exercise"]
    notebook = nbformat.v4.new_notebook(
        cells=[
            md(f"# {title}\n\nA stand-in lesson made by tests/test_book.py. {prose}"),
            md(
                "The loss is $L = (wx + b - y)^2$, so\n\n$$\\frac{\\partial L}{\\partial w} = 2x\\,(wx + b - y).$$"
            ),
            code("import matplotlib.pyplot as plt\nimport numpy as np"),
            md("## A figure"),
            code(figure),
            code(
                'from IPython.display import Markdown\n\nMarkdown("| claim | measured |\\n|---|---|\\n| accuracy | 0.99 |")'
            ),
            md("## Exercises\n\nWrite `square`, which squares a number."),
            exercise,
            code(SQUARE_CHECK),
        ]
    )
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


STAND_INS = {  # stems of real lessons, so that the pages take the course's places
    "01_tensors_autograd": _stand_in(
        "Tensors and autograd (stand-in)",
        "Gradients by hand and by autograd.",
        'xs = np.linspace(-2, 2, 41)\nplt.figure(figsize=(4, 3))\nplt.plot(xs, xs**2, "o-", ms=3)\nplt.title("a parabola")\nplt.show()',
    ),
    "11_vit": _stand_in(
        "Vision Transformers (stand-in)",
        "A Vision Transformer cuts an image into patches; every patch looks at every other patch "
        "through **attention**, a layer whose connections are computed from the data.",
        "weights = np.outer(np.arange(8), np.arange(8)) / 49\nplt.figure(figsize=(3, 3))\n"
        'plt.imshow(weights, cmap="viridis")\nplt.title("attention weights")\nplt.show()',
    ),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, str | None]:
    """The site's html folder and what the build printed (None for a prebuilt site)."""
    if PREBUILT:
        return Path(PREBUILT).resolve(), None
    from nbclient import NotebookClient

    work = tmp_path_factory.mktemp("book")
    executed = work / "executed"
    executed.mkdir()
    for stem, notebook in STAND_INS.items():
        notebook = nbformat.from_dict(json.loads(json.dumps(notebook)))  # a copy per run
        NotebookClient(
            notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(work)}}
        ).execute()
        nbformat.write(notebook, executed / f"{stem}.ipynb")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "E2EDL_PROGRESS": "0"}
    command = [sys.executable, str(ROOT / "tools" / "book.py"), "build", "--notebooks", str(executed),
               "--out", str(work / "site"), "--partial"]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return work / "site" / "html", run.stdout


@pytest.fixture(scope="module")
def site(built) -> Path:
    return built[0]


def _lessons(site: Path) -> list[dict]:
    return json.loads((site / "book.json").read_text())["lessons"]


# --- the build, without a browser -------------------------------------------------------------


def test_the_build_prints_index_html_and_pages_keep_their_outputs(built) -> None:
    html, printed = built
    if printed is None:
        pytest.skip("a prebuilt site (E2EDL_BOOK_HTML): its build output is not here")
    assert printed.strip().splitlines()[-1] == str(html / "index.html")
    lessons = {entry["stem"]: entry for entry in _lessons(html)}
    assert set(lessons) == set(STAND_INS) and all(
        e["figures"] == 1 and e["exercises"] == 1 for e in lessons.values()
    )
    page = (html / "lessons" / "11_vit.html").read_text()
    assert "✗ square: not written yet" in page, "an exercise's check output is missing"
    assert "https://colab.research.google.com/github/e2edl/e2edl/blob/main/notebooks/11_vit.ipynb" in page
    assert 'href="../_static/notebooks/11_vit.ipynb"' in page
    clean = nbformat.read(html / "_static" / "notebooks" / "11_vit.ipynb", as_version=4)
    assert not any(c.get("outputs") for c in clean.cells if c.cell_type == "code"), (
        "download the clean notebook"
    )
    front = (html / "index.html").read_text()
    assert "not in this build" in front, "the course map lists every lesson, built or not"
    assert front.count("<table") >= 2, "the front page holds the course map and the results table"


def test_a_missing_notebook_stops_the_build_with_the_command_that_makes_it(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "book.py"), "build", "--notebooks", str(tmp_path), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert "make them with" in run.stderr and "E2EDL_EXECUTED_NOTEBOOKS=" in run.stderr, run.stderr
    assert "tests/test_notebooks.py" in run.stderr and "11_vit" in run.stderr, run.stderr


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(errors="replace"))
    return parser


def test_every_internal_link_resolves(site: Path) -> None:
    pages = sorted(
        p for p in site.rglob("*.html") if p.relative_to(site).parts[0] != "_static"
    )  # not theme macros
    parsed = {page: _parse(page) for page in pages}
    broken = []
    for page, links in parsed.items():
        base = page.relative_to(site).as_posix()
        for link in links.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith(("//", "mailto:", "javascript:")) or link == "#":
                continue  # external links are links, not requests; the browser test checks requests
            target = urlsplit(urljoin(f"http://site/{base}", link))
            file = site / unquote(target.path).lstrip("/")
            if file.is_dir():
                file = file / "index.html"
            if not file.is_file():
                broken.append(f"{base}: {link}")
            elif target.fragment and file.suffix == ".html":
                ids = parsed[file].ids if file in parsed else _parse(file).ids
                if unquote(target.fragment) not in ids:
                    broken.append(f"{base}: {link} (no such anchor)")
    assert not broken, f"{len(broken)} broken links, e.g.:\n" + "\n".join(broken[:30])


# --- in the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(site: Path):
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[docs]'")
    if book.find_chromium() is None:
        pytest.skip("no Chromium: apt-get install -y chromium (or set E2EDL_CHROMIUM)")
    with book.serve(site) as base:
        yield base


DECODE_IMAGES = """async () => Promise.all([...document.images].map(async (img) => {
  img.loading = "eager";
  try { await img.decode(); } catch (error) { return [img.currentSrc || img.src, 0, String(error)]; }
  return [img.currentSrc || img.src, img.naturalWidth, ""];
}))"""


def test_every_lesson_page_loads_offline_with_its_figures_and_no_console_error(
    site: Path, served: str
) -> None:
    lessons = _lessons(site)
    assert lessons, "the site has no lesson page"
    with book.browser(served) as (context, blocked):
        for entry in lessons:
            page = context.new_page()
            errors, requests, failed = [], [], []
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.on("request", lambda r, requests=requests: requests.append(r.url))
            page.on("requestfailed", lambda r, failed=failed: failed.append(r.url))
            page.on(
                "response",
                lambda r, failed=failed: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            page.goto(served + entry["page"], wait_until="networkidle")
            page.evaluate(
                "async () => { if (window.MathJax?.startup?.promise) await window.MathJax.startup.promise; }"
            )
            images = page.evaluate(DECODE_IMAGES)
            page.wait_for_load_state("networkidle")  # fonts MathJax asked for
            figures = page.locator("div.cell_output img").count()
            name = entry["stem"]
            assert all(url.startswith(served) or url.startswith("data:") for url in requests), (
                f"{name}: requests leaving localhost {[u for u in requests if not u.startswith(served)]}"
            )
            assert not failed, f"{name}: failed requests {failed}"
            assert not errors, f"{name}: console errors {errors}"
            assert [i for i in images if i[1] <= 0] == [], f"{name}: images not decoded"
            assert figures == entry["figures"], (
                f"{name}: {figures} figures on the page, {entry['figures']} in the notebook"
            )
            if page.locator("span.math, div.math").count():
                assert page.locator("mjx-container").count(), f"{name}: MathJax typeset nothing"
            page.close()
    assert blocked == [], f"requests that would have left localhost: {sorted(set(blocked))}"


def test_search_finds_attention_and_leads_to_the_vit_lesson(served: str) -> None:
    with book.browser(served) as (context, blocked):
        page = context.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(served + "search.html?q=attention", wait_until="networkidle")
        hit = page.locator('#search-results a[href*="lessons/11_vit"]').first
        hit.wait_for(timeout=30_000)
        hit.click()
        page.wait_for_load_state("networkidle")
        assert urlsplit(page.url).path.endswith("/lessons/11_vit.html"), page.url
        assert "attention" in page.inner_text("article").lower()
        assert not errors, errors
    assert blocked == [], blocked


def test_screenshots_show_the_front_page_and_a_lesson(site: Path, served: str, tmp_path: Path) -> None:
    shots = book.screenshots(tmp_path, site, lesson="vit")  # raises if one is blank
    assert [p.name for p in shots] == ["front.png", "11_vit-top.png", "11_vit-figure.png"]
