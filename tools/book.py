"""The course as a website: every lesson as a page with its outputs, built from notebooks already executed.

    python tools/book.py build [--notebooks DIR] [--out DIR] [--partial]   # what `make book` runs
    python tools/book.py screenshots OUTDIR [--html DIR] [--lesson STEM]   # PNGs of two pages
    python tools/book.py serve [--html DIR] [--port N]                      # look at it in a browser

``build`` never runs a lesson. It takes the quick-mode notebooks the notebook tests executed
(``E2EDL_EXECUTED_NOTEBOOKS=DIR pytest tests/test_notebooks.py`` writes them; ``make book`` reads
``runs/executed-notebooks``), adds to each an "open in Colab" and a "download notebook" link, writes
the front page's course map and results table (the README's, from the reference full run), and runs
Sphinx + MyST-NB with execution off and warnings as errors on ``docs/`` plus those pages. The last
line it prints is the path of ``index.html``. A lesson without an executed copy, or with one older
than its source, stops the build with the command that makes it (``--partial`` builds without it).

The site needs nothing from the internet, to build or to view: MathJax and the theme's fonts are
local files; ``tests/test_book.py`` loads every lesson page in headless Chromium and asserts that no
request leaves localhost.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
DEFAULT_NOTEBOOKS = ROOT / "runs" / "executed-notebooks"
DEFAULT_OUT = ROOT / "build" / "book"
REPOSITORY = "https://github.com/e2edl/e2edl"
COLAB = "https://colab.research.google.com/github/e2edl/e2edl/blob/main/{notebook}"
RESULTS_BEGIN, RESULTS_END = "<!-- results:begin", "<!-- results:end -->"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
STALE = "older than its source"

sys.path.insert(0, str(ROOT / "tools"))
import notebooks as notebook_tools  # noqa: E402


class BookError(Exception):
    """The site cannot be built; the message says what to run."""


@dataclass
class Page:
    """One lesson of the course and the executed notebook its page is made from."""

    stem: str  # 11_vit
    name: str  # vit
    number: int
    title: str  # the registry's title
    datasets: tuple[str, ...]
    notebook: str  # notebooks/11_vit.ipynb (the clean one Colab opens)
    executed: Path
    problem: str | None = None  # "no executed copy", "not executed", "older than its source"

    @property
    def docname(self) -> str:
        return f"lessons/{self.stem}"

    @property
    def buildable(self) -> bool:
        """An executed copy exists (``--partial`` builds one older than its source, with a warning)."""
        return self.problem in (None, STALE)


# --- collecting the executed notebooks ---------------------------------------------------------


def course_pages(notebooks: Path) -> list[Page]:
    """Every lesson in course order, with what is wrong with its executed copy (if anything)."""
    from e2edl.course import all_lessons

    pages = []
    for lesson in all_lessons():
        page = Page(lesson.stem, lesson.name, lesson.number, lesson.title, tuple(lesson.datasets),
                    lesson.notebook, notebooks / f"{lesson.stem}.ipynb")  # fmt: skip
        page.problem = _problem(page)
        pages.append(page)
    return pages


def _problem(page: Page) -> str | None:
    if not page.executed.is_file():
        return "no executed copy"
    executed = nbformat.read(page.executed, as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code" and c.source.strip()]
    if not code or not all(c.get("execution_count") for c in code):
        return "not executed"
    clean = ROOT / page.notebook
    if clean.is_file() and notebook_tools.cells(nbformat.read(clean, as_version=4)) != notebook_tools.cells(
        executed
    ):
        return STALE
    return None


def make_command(notebooks: Path, stems: list[str]) -> str:
    """The command that executes these lessons' notebooks in quick mode and keeps the copies."""
    where = os.path.relpath(notebooks, ROOT) if notebooks.is_relative_to(ROOT) else str(notebooks)
    select = " or ".join(stems)
    return (
        f"OMP_NUM_THREADS=1 E2EDL_PROGRESS=0 HF_HUB_OFFLINE=1 E2EDL_EXECUTED_NOTEBOOKS={where} "
        f'.venv/bin/pytest -q tests/test_notebooks.py -k "runs_top_to_bottom and ({select})"'
    )


# --- writing the Sphinx source folder ---------------------------------------------------------


def _write(path: Path, text: str) -> None:
    """Write only when the text changed, so Sphinx rebuilds only the pages that did."""
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _copy_docs(src: Path) -> None:
    """docs/ into the build's source folder (files keep their times: unchanged pages aren't rebuilt)."""
    for file in DOCS.rglob("*"):
        if file.is_dir() or "__pycache__" in file.parts:
            continue
        target = src / file.relative_to(DOCS)
        if not target.is_file() or target.read_bytes() != file.read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)


def launch_cell(page: Page) -> nbformat.NotebookNode:
    """The links under a lesson's title: open the clean notebook in Colab, or download it."""
    colab = COLAB.format(notebook=page.notebook)
    download = f"../_static/notebooks/{page.stem}.ipynb"
    return nbformat.v4.new_markdown_cell(
        '<div class="e2edl-launch">\n'
        f'<a class="e2edl-colab" href="{colab}"><img src="../_static/badge-colab.svg" alt="Open in Colab"></a>\n'
        f'<a class="e2edl-download" href="{download}" download="{page.stem}.ipynb">'
        '<img src="../_static/badge-download.svg" alt="Download notebook"></a>\n'
        '<span class="e2edl-mode">The outputs on this page are from a quick-mode run (fewer epochs, '
        "less data), executed by the course's tests; the front page has the full run's results.</span>\n"
        "</div>"
    )


def exercises_note() -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(
        ":::{admonition} On this page\n:class: tip\n\n"
        "The checks below show what the empty stubs print (✗ not written yet). To do the exercises, "
        "open the notebook in Colab or download it (links at the top of the page).\n:::"
    )


def page_notebook(page: Page) -> nbformat.NotebookNode:
    """The executed notebook as its page shows it: links under the title, a note over the exercises.
    Outputs are kept as the notebook test wrote them."""
    notebook = nbformat.read(page.executed, as_version=4)
    cells = list(notebook.cells)
    title = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"), None)
    if title is None or not cells[title].source.lstrip().startswith("# "):
        raise BookError(f"{page.executed}: a lesson starts with a markdown cell holding its '# title'")
    heading, _, rest = cells[title].source.lstrip().partition("\n")
    heading = f"# {page.number:02d} · {heading[2:].strip()}"  # the number comes from the course order
    cells[title : title + 1] = [nbformat.v4.new_markdown_cell(heading), launch_cell(page)] + (
        [nbformat.v4.new_markdown_cell(rest.strip())] if rest.strip() else []
    )
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown" and re.match(r"#+ Exercises\b", cell.source.lstrip()):
            heading, _, rest = cell.source.lstrip().partition("\n")
            cells[i : i + 1] = [nbformat.v4.new_markdown_cell(heading), exercises_note()] + (
                [nbformat.v4.new_markdown_cell(rest.strip())] if rest.strip() else []
            )
            break
    for cell in cells:
        cell.pop("id", None)  # ids of the inserted cells would clash; MyST-NB does not need them
    notebook.cells = cells
    notebook.nbformat_minor = 4
    return notebook


def course_map(pages: list[Page]) -> str:
    """The front page's table of lessons: number, page, what you build (the README's words), data."""
    built = {p.stem for p in pages if p.buildable}
    blurbs = _readme_lesson_blurbs()
    rows = ["| # | lesson | what you build | data |", "|---|---|---|---|"]
    for p in pages:
        link = f"{{doc}}`{p.title} </{p.docname}>`" if p.stem in built else f"{p.title} *(not in this build)*"
        data = ", ".join(p.datasets) or "—"
        rows.append(f"| {p.number:02d} | {link} | {blurbs.get(p.name, '')} | {data} |")
    return "\n".join(rows) + "\n"


def _readme_lesson_blurbs() -> dict[str, str]:
    """``| 04 | `mnist-cnn` | what you build | data |`` rows of the README's lesson table."""
    blurbs = {}
    for line in README.read_text().splitlines() if README.is_file() else []:
        match = re.match(r"\|\s*\d+\s*\|\s*`([a-z0-9-]+)`\s*\|([^|]*)\|", line)
        if match:
            blurbs[match.group(1)] = match.group(2).strip()
    return blurbs


def results_table() -> str:
    """The README's results block (written by a full run, `make readme`), without its markers."""
    text = README.read_text() if README.is_file() else ""
    begin, end = text.find(RESULTS_BEGIN), text.find(RESULTS_END)
    if begin < 0 or end < begin:
        return "No full run has been recorded yet (`make readme` writes the table).\n"
    block = text[text.index("\n", begin) + 1 : end].strip()
    return block + "\n" if block else "No full run has been recorded yet (`make readme` writes the table).\n"


NOT_IN_REFERENCE = {"__init__", "__main__", "cli", "experiments"}  # the CLI and the lessons' experiments


def missing_from_reference() -> list[str]:
    """Modules of the package that docs/api.md does not list (so the reference would silently omit them)."""
    package = ROOT / "src" / "e2edl"
    names = {p.stem for p in package.glob("*.py")} | {p.parent.name for p in package.glob("*/__init__.py")}
    listed = set(re.findall(r"^\s+e2edl\.(\w+)\s*$", (DOCS / "api.md").read_text(), re.M))
    return sorted(f"e2edl.{name}" for name in names - NOT_IN_REFERENCE - listed)


def prepare(pages: list[Page], src: Path) -> None:
    """The Sphinx source folder: docs/, the lesson pages, the clean notebooks, the generated parts."""
    _copy_docs(src)
    lessons = src / "lessons"
    lessons.mkdir(parents=True, exist_ok=True)
    keep = set()
    for page in pages:
        if not page.buildable:
            continue
        keep.add(f"{page.stem}.ipynb")
        _write(lessons / f"{page.stem}.ipynb", nbformat.writes(page_notebook(page)) + "\n")
        clean = ROOT / page.notebook
        clean_text = clean.read_text() if clean.is_file() else nbformat.writes(_without_outputs(page)) + "\n"
        _write(src / "_static" / "notebooks" / f"{page.stem}.ipynb", clean_text)
    for old in lessons.glob("*.ipynb"):
        if old.name not in keep:  # a lesson dropped from the course, or not in this build
            old.unlink()
    _drop_stale_api_pages(src / "generated")
    _write(src / "_generated" / "course_map.md", course_map(pages))
    _write(src / "_generated" / "results.md", results_table())


def _drop_stale_api_pages(generated: Path) -> None:
    """autosummary rewrites the page of every module it finds; a module that is gone leaves an orphan."""
    import importlib.util

    for stub in generated.glob("e2edl.*.rst"):
        try:
            gone = importlib.util.find_spec(stub.stem) is None
        except ImportError:
            gone = True
        if gone:
            stub.unlink()


def _without_outputs(page: Page) -> nbformat.NotebookNode:
    notebook = nbformat.read(page.executed, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return notebook


def manifest(pages: list[Page]) -> dict:
    """What the site holds, for the browser test and the screenshots: each page and its figures."""
    lessons = []
    for page in pages:
        if not page.buildable:
            continue
        notebook = nbformat.read(page.executed, as_version=4)
        outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        lessons.append(
            {
                "stem": page.stem,
                "name": page.name,
                "title": page.title,
                "page": f"{page.docname}.html",
                "figures": sum(1 for o in outputs if any(t in o.get("data", {}) for t in IMAGE_TYPES)),
                "exercises": sum(1 for c in notebook.cells if "exercise" in c.metadata.get("tags", [])),
            }
        )
    problems = [{"stem": p.stem, "problem": p.problem} for p in pages if p.problem is not None]
    return {"lessons": lessons, "problems": problems}


def build(notebooks: Path, out: Path, partial: bool = False, jobs: str = "1") -> Path:
    """Build the site into ``out/html`` from the executed notebooks in ``notebooks``; return index.html."""
    pages = course_pages(notebooks)
    problems = [p for p in pages if p.problem is not None]
    for p in problems:
        print(f"{p.stem}: {p.problem} in {notebooks}", file=sys.stderr)
    if problems:
        command = make_command(notebooks, [p.stem for p in problems])
        if not partial or not any(p.buildable for p in pages):
            raise BookError(
                f"{len(problems)} of {len(pages)} lessons have no up-to-date executed notebook in {notebooks}; "
                f"make them with:\n  {command}\n(or build what is there with --partial)"
            )
        print(f"--partial: building without the missing ones, stale ones as they are; to make them:\n  {command}",
              file=sys.stderr)  # fmt: skip
    if unlisted := missing_from_reference():
        raise BookError(
            f"docs/api.md does not list {', '.join(unlisted)}: add each to one of its autosummary blocks"
        )
    src, html, doctrees = out / "src", out / "html", out / "doctrees"
    prepare(pages, src)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-j", jobs,
               "-d", str(doctrees), str(src), str(html)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "E2EDL_PROGRESS": "0"}
    if subprocess.run(command, env=env, cwd=ROOT).returncode != 0:
        raise BookError("sphinx-build failed (warnings count as errors); see its messages above")
    (html / "book.json").write_text(json.dumps(manifest(pages), indent=1) + "\n")
    return html / "index.html"


# --- serving and looking at the site ----------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
        pass


@contextlib.contextmanager
def serve(html: Path, port: int = 0) -> Iterator[str]:
    """Serve ``html`` on 127.0.0.1 (a free port unless given); yields the base URL, ``http://127.0.0.1:N/``."""
    if not (html / "index.html").is_file():
        raise BookError(f"no site in {html}: run `make book` (python tools/book.py build) first")
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_QuietHandler, directory=str(html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def find_chromium() -> str | None:
    """Debian's ``chromium`` (or ``$E2EDL_CHROMIUM``): Playwright's own browser downloads are not used."""
    if os.environ.get("E2EDL_CHROMIUM"):
        return os.environ["E2EDL_CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


@contextlib.contextmanager
def browser(base: str) -> Iterator[tuple[object, list[str]]]:
    """A headless Chromium context in which every request that would leave ``base`` is blocked and
    recorded; yields ``(context, blocked_urls)``."""
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        raise BookError("no Chromium found: apt-get install -y chromium (or set E2EDL_CHROMIUM)")
    blocked: list[str] = []

    def guard(route) -> None:
        url = route.request.url
        if url.startswith(base) or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            context = instance.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", guard)
            yield context, blocked
        finally:
            instance.close()


def screenshots(out: Path, html: Path, lesson: str | None = None) -> list[Path]:
    """PNGs of the front page (whole page: course map and results table) and of one lesson page
    (its top, and its first figure in view); returns their paths."""
    site = json.loads((html / "book.json").read_text())
    with_figures = [entry for entry in site["lessons"] if entry["figures"]]
    if not with_figures:
        raise BookError("no lesson page in this site has a figure")
    chosen = next((e for e in with_figures if lesson in (e["stem"], e["name"])), None) if lesson else None
    if lesson and chosen is None:
        raise BookError(f"{lesson!r} is not a lesson page with figures in {html}")
    chosen = chosen or next((e for e in with_figures if e["name"] == "vit"), with_figures[0])
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with serve(html) as base, browser(base) as (context, blocked):
        page = context.new_page()
        page.goto(base + "index.html", wait_until="networkidle")
        shots.append(out / "front.png")
        page.screenshot(path=shots[-1], full_page=True)
        page.goto(base + chosen["page"], wait_until="networkidle")
        shots.append(out / f"{chosen['stem']}-top.png")
        page.screenshot(path=shots[-1])
        figure = page.locator("div.cell_output img").first
        figure.scroll_into_view_if_needed()
        page.evaluate("window.scrollBy(0, -120)")  # the cell above the figure in view too
        page.wait_for_timeout(300)
        shots.append(out / f"{chosen['stem']}-figure.png")
        page.screenshot(path=shots[-1])
    if blocked:
        raise BookError(f"the pages tried to reach beyond localhost: {sorted(set(blocked))}")
    for shot in shots:
        _require_not_blank(shot)
    return shots


def _require_not_blank(png: Path) -> None:
    from PIL import Image

    with Image.open(png) as image:
        colours = image.convert("RGB").resize((200, 200)).getcolors(maxcolors=200 * 200)
    if colours is None or len(colours) < 8:
        raise BookError(f"{png} is (nearly) blank")


# --- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="build the site from executed notebooks")
    build_cmd.add_argument("--notebooks", type=Path,
                           default=Path(os.environ.get("E2EDL_EXECUTED_NOTEBOOKS") or DEFAULT_NOTEBOOKS),
                           help="executed notebooks (default: $E2EDL_EXECUTED_NOTEBOOKS or runs/executed-notebooks)")  # fmt: skip
    build_cmd.add_argument("--out", type=Path, default=DEFAULT_OUT, help="build folder (default: build/book)")
    build_cmd.add_argument("--partial", action="store_true", help="leave out lessons with no executed copy")
    build_cmd.add_argument("--jobs", default="1", help="sphinx-build -j (default 1)")
    shots = sub.add_parser("screenshots", help="PNGs of the front page and one lesson page")
    shots.add_argument("outdir", type=Path)
    shots.add_argument("--html", type=Path, default=DEFAULT_OUT / "html")
    shots.add_argument("--lesson", help="lesson name or stem (default: vit, else the first with a figure)")
    serve_cmd = sub.add_parser("serve", help="serve the built site on 127.0.0.1")
    serve_cmd.add_argument("--html", type=Path, default=DEFAULT_OUT / "html")
    serve_cmd.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            index = build(args.notebooks.resolve(), args.out.resolve(), args.partial, args.jobs)
            print(index)
        elif args.command == "screenshots":
            for path in screenshots(args.outdir, args.html.resolve(), args.lesson):
                print(path)
        else:
            with serve(args.html.resolve(), args.port) as base:
                print(f"serving {args.html} at {base} (Ctrl-C stops)")
                with contextlib.suppress(KeyboardInterrupt):
                    threading.Event().wait()
    except BookError as error:
        print(f"book: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
