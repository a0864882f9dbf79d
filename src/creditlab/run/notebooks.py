"""Execute a report notebook with papermill and render it to one self-contained HTML file.

Rendering uses Quarto when ``quarto`` is on PATH (``quarto render executed.ipynb`` does not
re-execute) and otherwise nbconvert with creditlab's own page: the same cell options are honoured
(``#| echo: false`` hides code, ``#| include: false`` drops a cell, ``#| output: false`` drops its
output, ``#| fig-cap`` captions a figure), the front matter's title and ``execute: echo`` default
apply, images are embedded as data URIs, and the page links to nothing outside itself.
"""

from __future__ import annotations

import copy
import html
import logging
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import nbconvert
import nbformat
import papermill
import yaml

from creditlab.errors import ReportError

__all__ = ["cell_options", "execute_notebook", "front_matter", "render_html"]

log = logging.getLogger(__name__)

# A report notebook only formats what the stages wrote: a cell still running after this long is
# stuck (a kernel that lost a message), and the run fails instead of hanging its schedule.
CELL_TIMEOUT_S = 1200

_OPTION = re.compile(r"^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$")


def execute_notebook(source: Path, executed: Path, parameters: dict, cwd: Path) -> None:
    """Run ``source`` with papermill into ``executed`` (kept, even on failure, as the audit copy)."""
    try:
        papermill.execute_notebook(
            str(source),
            str(executed),
            parameters=parameters,
            cwd=str(cwd),
            progress_bar=False,
            kernel_name="python3",
            log_output=False,
            execution_timeout=CELL_TIMEOUT_S,
        )
    except papermill.PapermillExecutionError as exc:
        raise ReportError(
            f"{source.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} "
            f"(the executed notebook is {executed})"
        ) from exc


def front_matter(nb: nbformat.NotebookNode) -> dict:
    """The Quarto front matter of the first raw cell (empty when there is none)."""
    if nb.cells and nb.cells[0].cell_type == "raw":
        text = nb.cells[0].source.strip()
        if text.startswith("---"):
            try:
                return yaml.safe_load(text.strip("-\n")) or {}
            except yaml.YAMLError:
                return {}
    return {}


def cell_options(source: str) -> tuple[dict, str]:
    """Split a code cell into its ``#|`` options and the rest of its source."""
    options, lines = {}, source.splitlines()
    while lines and (match := _OPTION.match(lines[0])):
        value = match.group(2)
        options[match.group(1)] = {"true": True, "false": False}.get(value, value.strip("\"'"))
        lines.pop(0)
    return options, "\n".join(lines)


def _apply_options(nb: nbformat.NotebookNode, default_echo: bool) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "raw":
            continue  # front matter and raw cells are not part of the page
        if cell.cell_type == "code":
            options, rest = cell_options(cell.source)
            tags = cell.get("metadata", {}).get("tags", [])
            if (
                options.get("include") is False
                or "parameters" in tags
                or "injected-parameters" in tags
            ):
                continue
            cell.source = rest
            if not options.get("echo", default_echo):
                cell.metadata["transient"] = {"remove_source": True}
            if options.get("output") is False:
                cell.outputs = []
            caption = options.get("fig-cap")
            if caption:
                cell.outputs.append(
                    nbformat.v4.new_output(
                        "display_data",
                        data={"text/html": f'<p class="cl-caption">{html.escape(caption)}</p>'},
                    )
                )
        cells.append(cell)
    nb.cells = cells
    return nb


def _toc(body: str) -> str:
    """The page's contents as HTML list items: every h2, under its h1 where the page groups its
    sections (the weekly report groups them by reader)."""
    items, group = [], None
    for level, anchor, text in re.findall(r'<h([12]) id="([^"]+)"[^>]*>(.*?)</h\1>', body):
        link = f'<a href="#{anchor}">{re.sub(r"<[^>]+>", "", text)}</a>'
        if level == "1":
            group = [link]
            items.append(group)
        elif group is not None:
            group.append(link)
        else:
            items.append([link])
    return "".join(
        f"<li>{g[0]}</li>"
        if len(g) == 1
        else f'<li class="cl-toc-group">{g[0]}<ol>'
        + "".join(f"<li>{a}</li>" for a in g[1:])
        + "</ol></li>"
        for g in items
    )


def _page(title: str, body: str, toc_html: str, css: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{css}\n</style>\n</head>\n<body>\n"
        f'<header class="cl-title"><h1>{html.escape(title)}</h1></header>\n'
        f'<nav class="cl-toc"><h2>Contents</h2><ol>{toc_html}</ol></nav>\n'
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _nbconvert_html(executed: Path, html_path: Path) -> None:
    nb = nbformat.read(executed, as_version=4)
    meta = front_matter(nb)
    echo = (meta.get("execute") or {}).get("echo", True)
    exporter = nbconvert.HTMLExporter(
        template_name="basic", exclude_input_prompt=True, exclude_output_prompt=True
    )
    exporter.register_preprocessor(
        "nbconvert.preprocessors.ExtractAttachmentsPreprocessor", enabled=False
    )
    body, _ = exporter.from_notebook_node(_apply_options(nb, bool(echo)))
    body = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', "", body)
    css = resources.files("creditlab.report").joinpath("templates/report.css").read_text()
    title = str(meta.get("title", executed.stem))
    html_path.write_text(_page(title, body, _toc(body), css), encoding="utf-8")


def render_html(executed: Path, html_path: Path) -> str:
    """Render an executed notebook to self-contained HTML; returns the renderer used."""
    quarto = shutil.which("quarto")
    if quarto:
        version = subprocess.run([quarto, "--version"], capture_output=True, text=True).stdout
        result = subprocess.run(
            [
                quarto,
                "render",
                str(executed),
                "--to",
                "html",
                "--output",
                html_path.name,
                "-M",
                "embed-resources:true",
            ],
            cwd=executed.parent,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ReportError(f"quarto render failed: {result.stderr.strip()[-2000:]}")
        rendered = executed.parent / html_path.name
        if rendered != html_path:
            shutil.move(rendered, html_path)
        return f"quarto {version.strip()}"
    _nbconvert_html(executed, html_path)
    return f"nbconvert {nbconvert.__version__}"
