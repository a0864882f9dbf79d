"""The workbench's customer search: a whole label, an id in any case, or the one name holding the
text finds a customer; otherwise the box says what to do (no JupyterLab needed)."""

from __future__ import annotations

from creditlab.widgets import _find_customer

OPTIONS = {
    "C000012 — Nordic Works B.V.": "C000012",
    "C000120 — Nordic Foods <Group>": "C000120",
    "C000201 — Baltic Energy GmbH": "C000201",
}


def test_a_label_an_id_or_a_unique_part_of_a_name_finds_the_customer():
    assert _find_customer("C000012 — Nordic Works B.V.", OPTIONS) == ("C000012", "")
    assert _find_customer(" c000012 ", OPTIONS) == ("C000012", "")
    assert _find_customer("baltic", OPTIONS) == ("C000201", "")


def test_otherwise_the_box_says_what_to_do_escaped():
    assert (
        _find_customer("", OPTIONS)[0] is None
        and "Pick a customer" in _find_customer("", OPTIONS)[1]
    )
    cid, message = _find_customer("nordic", OPTIONS)
    assert cid is None and message.startswith("2 customers match")
    cid, message = _find_customer("<b>x</b>", OPTIONS)
    assert cid is None and "&lt;b&gt;" in message and "<b>" not in message
