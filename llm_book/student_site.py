"""The student website: the book's site built from the student edition of the notebooks.

The public site shows every solution (behind a "show" toggle), offers the
notebooks *with* solutions as downloads (``_sources/*.ipynb``) and links to
them from its Colab and repository buttons.  :func:`build_student_site` builds
the same chapters, figures and explorers from the student edition instead
(:func:`llm_book.classroom.student_edition`: every solution replaced by its
stub, every answer in words of the Exercises parts by a line saying that the
teacher has it), so no solution text reaches any built file, pages, downloads
or the search index.  By default the launch (Colab) and repository buttons are
dropped, since they would open the repository's notebooks with solutions; a
teacher who has pushed the student edition somewhere passes that repository
(and branch) and the buttons point there.  The teachers' guide is left out;
the exercise cells show their stubs instead of folding them away, and the
front page says that this is the student edition.

    python -m llm_book.classroom student-site OUT [--root .] [--repository-url URL --branch B]

OUT is a folder of static files: any web server or static host (GitHub Pages)
serves it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path


from llm_book.classroom import STUB, _check_outside_book, _source_text, student_edition

# What the book build reads (besides book/): files and folders at the root.
BUILD_FILES = ("_config.yml", "_toc.yml", "references.bib")
BUILD_FOLDERS = ("_ext", "_site_assets")
# Pages of the public site the student site leaves out (their _toc.yml entries are dropped).
LEFT_OUT = ("book/teachers_guide",)
MARKER = ".llm-book-student-site"
EDITION_NOTE = ("```{note}\nThis is the **student edition** of the book: each exercise shows the function to "
                "write where the book has its solution, and the checker below it says whether your answer is "
                "right.\n```\n")
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]+$")


def _check_repository(repository_url: str | None, branch: str | None) -> None:
    if repository_url is None:
        if branch is not None:
            raise ValueError(f"`branch` (={branch!r}) needs `repository_url`: give the repository that holds "
                             f"the student edition, e.g. --repository-url https://github.com/you/llm-book-students")
        return
    if not isinstance(repository_url, str) or not re.match(r"^https://github\.com/[^/\s]+/[^/\s]+/?$",
                                                           repository_url):
        raise ValueError(f"`repository_url` (={repository_url!r}) has to be a GitHub repository address "
                         f"such as https://github.com/you/llm-book-students (Colab opens notebooks from GitHub)")
    if branch is not None and (not isinstance(branch, str) or not _BRANCH.match(branch)):
        raise ValueError(f"`branch` (={branch!r}) has to be a branch name (letters, digits, '.', '_', '-', '/')")


def _check_out_dir(out_dir: Path, root: Path) -> None:
    _check_outside_book(out_dir, root, "out_dir", "the next build would pick the site up as sources: "
                        "choose a folder outside it")
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise ValueError(f"`out_dir` ({out_dir}) is a folder that is not empty and holds no earlier student "
                         f"site; give a new or empty folder (an earlier student site there is replaced)")


def _check_root(root: Path) -> None:
    if not (root / "_config.yml").is_file() or not (root / "book").is_dir():
        raise ValueError(f"`root` ({root}) is not the book's repository: it has no _config.yml and book/; "
                         f"run from the repository root or pass --root")
    if not (root / "_site_assets" / "offline" / "mathjax").is_dir():
        raise ValueError(f"`root` ({root}) has no _site_assets/offline/: the site serves its own scripts; "
                         f"run `npm ci && python scripts/fetch_assets.py` first (scripts/setup.sh does both)")
    missing = [name for name in (*BUILD_FILES, *BUILD_FOLDERS) if not (root / name).exists()]
    if missing:
        raise ValueError(f"`root` ({root}) lacks {', '.join(missing)}, which the book build needs")


def student_config(config: dict, repository_url: str | None = None, branch: str | None = None) -> dict:
    """The site configuration with its buttons pointing nowhere near the solutions.

    Without ``repository_url`` the launch (Colab) buttons and the repository
    and issues buttons are turned off and the repository address removed; with
    it they point to that repository (``branch``, default ``main``), where the
    teacher has pushed the student edition.
    """
    _check_repository(repository_url, branch)
    config = dict(config)
    html = dict(config.get("html") or {})
    if repository_url is None:
        config["repository"] = {"url": "", "branch": "main"}
        config["launch_buttons"] = {"notebook_interface": "classic", "binderhub_url": "", "colab_url": "",
                                    "jupyterhub_url": "", "thebe": False}
        html.update(use_repository_button=False, use_issues_button=False, use_edit_page_button=False)
    else:
        config["repository"] = {"url": repository_url.rstrip("/"), "branch": branch or "main"}
        # Issues belong to the book, not to the course's copy of it.
        html.update(use_issues_button=False, use_edit_page_button=False)
    config["html"] = html
    return config


def _student_toc(toc: dict) -> dict:
    parts = []
    for part in toc.get("parts", []):
        chapters = [c for c in part.get("chapters", []) if c.get("file") not in LEFT_OUT]
        if chapters:
            parts.append({**part, "chapters": chapters})
    return {**toc, "parts": parts}


def _jupyter_book() -> str:
    exe = shutil.which("jupyter-book")
    if exe is None:
        raise RuntimeError("jupyter-book is not installed (it builds the site): "
                           "pip install -r requirements.txt (scripts/setup.sh does)")
    return exe


def stage_sources(stage: Path, root: Path = Path("."), repository_url: str | None = None,
                  branch: str | None = None) -> Path:
    """Write the sources of the student site into ``stage`` (an empty folder); returns ``stage``."""
    import yaml  # with jupyter-book; here so that the other classroom commands work without it

    root, stage = Path(root), Path(stage)
    for name in BUILD_FILES:
        shutil.copy2(root / name, stage / name)
    for name in BUILD_FOLDERS:
        shutil.copytree(root / name, stage / name, ignore=shutil.ignore_patterns("__pycache__"))
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    (stage / "_config.yml").write_text(yaml.safe_dump(student_config(config, repository_url, branch),
                                                      sort_keys=False, allow_unicode=True), encoding="utf-8")
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    (stage / "_toc.yml").write_text(yaml.safe_dump(_student_toc(toc), sort_keys=False), encoding="utf-8")
    book = stage / "book"
    for path in student_edition(root / "book", book):
        _show_stubs(path)
    for page in LEFT_OUT:
        (stage / page).with_suffix(".ipynb").unlink(missing_ok=True)
    for md in (root / "book").glob("*.md"):
        shutil.copy2(md, book / md.name)
    index = book / "index.md"
    if index.is_file():  # say which edition this is, under the title
        title, _, rest = index.read_text(encoding="utf-8").partition("\n")
        index.write_text(f"{title}\n\n{EDITION_NOTE}\n{rest}", encoding="utf-8")
    return stage


def _show_stubs(path: Path) -> None:
    """Show the exercise cells' code on the page: the public site folds the solutions away
    (tag ``hide-input``); the student needs to see the stub (the function to write)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") == "code" and STUB[-1] in _source_text(cell.get("source", "")) and "hide-input" in tags:
            cell["metadata"]["tags"] = [tag for tag in tags if tag != "hide-input"]
            changed = True
    if changed:
        path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def build_student_site(out_dir: str | os.PathLike, root: str | os.PathLike = ".", *,
                       repository_url: str | None = None, branch: str | None = None,
                       timeout: float = 1800) -> Path:
    """Build the website from the student edition into ``out_dir``; returns the path of its index.html.

    Args:
        out_dir: folder for the static site (created; an earlier student site
            there is replaced); not inside ``root``.
        root: the book's repository (with _config.yml, book/ and the
            _site_assets/ that scripts/fetch_assets.py writes).
        repository_url, branch: where the teacher pushed the student edition;
            the Colab and repository buttons point there.  Without them the
            site has no such buttons.
        timeout: seconds the ``jupyter-book build`` may take.

    Raises:
        ValueError: a bad argument, or a missing _site_assets/.
        RuntimeError: jupyter-book is missing or the build fails (its output's tail is in the message).
    """
    root, out_dir = Path(root), Path(out_dir)
    _check_repository(repository_url, branch)
    _check_root(root)
    _check_out_dir(out_dir, root)
    exe = _jupyter_book()
    with tempfile.TemporaryDirectory(prefix="student-site-") as tmp:
        stage = Path(tmp) / "src"
        stage.mkdir()
        stage_sources(stage, root, repository_url, branch)
        # The build's extensions (_ext/) import llm_book: the package of this checkout, installed or not.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(root.resolve()), os.environ.get("PYTHONPATH", "")) if p))
        result = subprocess.run([exe, "build", str(stage), "--warningiserror", "--keep-going"],
                                capture_output=True, text=True, timeout=timeout, env=env)
        html = stage / "_build" / "html"
        if result.returncode != 0 or not (html / "index.html").is_file():
            output = result.stdout + result.stderr
            causes = [line for line in output.splitlines() if re.search(r"WARNING|ERROR|Error:", line)]
            raise RuntimeError(f"jupyter-book build of the student site failed (exit {result.returncode}):\n"
                               + "\n".join(causes[:20]) + "\n...\n" + output[-2000:])
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(html, out_dir)
    (out_dir / MARKER).write_text("built by python -m llm_book.classroom student-site\n", encoding="utf-8")
    # GitHub Pages runs Jekyll unless told not to, and Jekyll drops _static/, _images/ and _sources/.
    (out_dir / ".nojekyll").touch()
    return out_dir / "index.html"


def add_command(sub) -> None:
    """Add ``student-site`` to the sub-commands of ``python -m llm_book.classroom``."""
    command = sub.add_parser("student-site", help="build the website from the student edition (no solutions)")
    command.add_argument("out_dir", type=Path, help="folder for the static site (outside the book)")
    command.add_argument("--root", type=Path, default=Path("."),
                         help="the book's repository (default: the current folder)")
    command.add_argument("--repository-url", default=None,
                         help="GitHub repository holding the student edition; the Colab and repository "
                              "buttons point there (default: no such buttons)")
    command.add_argument("--branch", default=None, help="its branch (default: main)")
    command.set_defaults(run=_run)


def _run(args) -> int:
    index = build_student_site(args.out_dir, args.root, repository_url=args.repository_url, branch=args.branch)
    pages = sum(1 for _ in index.parent.rglob("*.html"))
    size = sum(f.stat().st_size for f in index.parent.rglob("*") if f.is_file())
    print(f"student site: {index} ({pages} HTML files, {size / 1e6:.0f} MB); serve the folder with any "
          f"static web server, e.g. python -m http.server -d {args.out_dir}")
    return 0
