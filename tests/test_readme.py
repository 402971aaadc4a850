"""The README's keyboard map is generated from the bindings: this keeps it current."""

from __future__ import annotations

import re
from pathlib import Path

from recon_tui.bindings import keymap_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_keymap() -> str:
    return keymap_markdown()


def test_readme_keyboard_map_is_current() -> None:
    text = README.read_text("utf-8")
    m = re.search(r"<!-- keymap:start -->\n(.*)\n<!-- keymap:end -->", text, re.S)
    assert m, "README lacks the keymap markers"
    assert m.group(1).strip() == readme_keymap(), (
        "README keyboard map is stale: run "
        "`python -c 'from tests.test_readme import write; write()'`"
    )


def test_readme_commands_are_the_ci_ones() -> None:
    text = README.read_text("utf-8")
    ci = (README.parent / ".ci" / "run").read_text("utf-8").strip().splitlines()[-1]
    assert ci in text


def write() -> None:
    text = README.read_text("utf-8")
    text = re.sub(r"(<!-- keymap:start -->\n).*?(<!-- keymap:end -->)",
                  lambda m: m.group(1) + readme_keymap() + "\n" + m.group(2), text, flags=re.S)
    README.write_text(text, "utf-8")
