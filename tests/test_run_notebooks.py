"""Rendering: Quarto-style cell options are honoured by the nbconvert path; the page is standalone."""

from __future__ import annotations

import re

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from creditlab.run.notebooks import cell_options, front_matter, render_html


def test_cell_options_are_parsed_and_stripped():
    options, rest = cell_options(
        '#| echo: false\n#| fig-cap: "Aging <chart>"\nx = 1\n#| not: option'
    )
    assert options == {"echo": False, "fig-cap": "Aging <chart>"}
    assert rest == "x = 1\n#| not: option"


def _notebook(echo_default: str) -> nbformat.NotebookNode:
    stream = new_output("stream", name="stdout", text="shown-output\n")
    return new_notebook(
        cells=[
            new_raw_cell(f'---\ntitle: "T & <b>itle</b>"\nexecute:\n  echo: {echo_default}\n---'),
            new_code_cell("params = 1  # parameters", metadata={"tags": ["parameters"]}),
            new_markdown_cell("## First section"),
            new_code_cell("#| echo: false\nhidden_code()", outputs=[stream]),
            new_code_cell("visible_code()", outputs=[]),
            new_code_cell("#| include: false\nsecret_setup()", outputs=[stream]),
            new_code_cell(
                "#| output: false\nquiet()",
                outputs=[new_output("stream", name="stdout", text="dropped\n")],
            ),
            new_code_cell('#| fig-cap: "Figure <1>"\nplot()', outputs=[]),
            new_markdown_cell("## Second section"),
        ]
    )


def test_nbconvert_path_honours_cell_options(tmp_path):
    nb = _notebook("true")
    assert front_matter(nb)["title"] == "T & <b>itle</b>"
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)
    renderer = render_html(path, tmp_path / "out.html")
    html = (tmp_path / "out.html").read_text()
    assert renderer.startswith("nbconvert") or renderer.startswith("quarto")
    if renderer.startswith("quarto"):
        return
    assert "<title>T &amp; &lt;b&gt;itle&lt;/b&gt;</title>" in html
    assert "hidden_code" not in html and "shown-output" in html
    assert "visible_code" in html
    assert "secret_setup" not in html
    assert "quiet" in html and "dropped" not in html
    assert "Figure &lt;1&gt;" in html
    assert "params = 1" not in html
    assert re.findall(r'href="#([^"]+)"', html) == ["First-section", "Second-section"]
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", html)


def test_contents_group_sections_under_their_part(tmp_path):
    """A page with parts (h1) lists each part with its sections under it; a section before any
    part stays at the top level."""
    nb = new_notebook(
        cells=[
            new_raw_cell('---\ntitle: "T"\n---'),
            new_markdown_cell("## Lead"),
            new_markdown_cell("# Part one"),
            new_markdown_cell("## A"),
            new_markdown_cell("## B"),
            new_markdown_cell("# Part two"),
            new_markdown_cell("## C"),
        ]
    )
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)
    if not render_html(path, tmp_path / "out.html").startswith("nbconvert"):
        return
    html = (tmp_path / "out.html").read_text()
    toc = html.split('<nav class="cl-toc">')[1].split("</nav>")[0]
    assert re.sub(r'<a href="#([^"]+)">[^<]*</a>', r"\1", toc).replace("<h2>Contents</h2>", "") == (
        "<ol><li>Lead</li>"
        '<li class="cl-toc-group">Part-one<ol><li>A</li><li>B</li></ol></li>'
        '<li class="cl-toc-group">Part-two<ol><li>C</li></ol></li></ol>'
    )


def test_front_matter_echo_false_hides_all_code(tmp_path):
    path = tmp_path / "executed.ipynb"
    nbformat.write(_notebook("false"), path)
    if render_html(path, tmp_path / "out.html").startswith("nbconvert"):
        html = (tmp_path / "out.html").read_text()
        assert "visible_code" not in html and "plot()" not in html
