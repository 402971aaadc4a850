"""The house rules that keep the layers apart, checked on the source: ruff is clean,
``adapters/`` and ``matchers/`` never import Textual and take nothing of ``recon_tui`` but
the model, ``matchers/`` does no I/O, and the model itself is pure."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IO_MODULES = {"sqlite3", "sqlcipher3", "sqlite_utils", "httpx", "ccxt", "socket", "requests",
              "urllib", "http", "subprocess", "shutil", "os"}  # fmt: skip


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_adapters_and_matchers_stay_in_their_layer() -> None:
    for package in ("adapters", "matchers"):
        for path in modules(package):
            for name in imports(path):
                top = name.split(".")[0]
                assert top != "textual", f"{path.relative_to(ROOT)} imports textual"
                if top == "recon_tui":
                    assert name == "recon_tui.model", (
                        f"{path.relative_to(ROOT)} imports {name}: only recon_tui.model is allowed"
                    )


def test_matchers_do_no_io() -> None:
    for path in modules("matchers"):
        bad = {n for n in imports(path) if n.split(".")[0] in IO_MODULES}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
        calls = {
            node.func.id
            for node in ast.walk(ast.parse(path.read_text("utf-8")))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        assert not calls & {"open", "print", "input"}, f"{path.relative_to(ROOT)} does I/O"


def test_model_is_pure() -> None:
    bad = {n for n in imports(ROOT / "recon_tui" / "model.py")
           if n.split(".")[0] in IO_MODULES | {"textual", "recon_tui"}}  # fmt: skip
    assert not bad


def test_every_module_says_its_role() -> None:
    for package in ("recon_tui", "adapters", "matchers"):
        for path in modules(package):
            tree = ast.parse(path.read_text("utf-8"))
            if path.name == "__init__.py" and not tree.body:
                continue
            assert ast.get_docstring(tree), f"{path.relative_to(ROOT)} has no module docstring"


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", str(ROOT)],
                            capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]


# The sources screens now go through services/sources.py (issue 14's typed settings work).
_NOT_YET: set[str] = set()


def _imports_all(path: Path) -> set[str]:
    """Every import of a module, those inside functions included."""
    return imports(path)


def test_screens_and_widgets_talk_only_to_services() -> None:
    for package in ("recon_tui/screens", "recon_tui/widgets"):
        for path in modules(package):
            rel = str(path.relative_to(ROOT))
            if rel in _NOT_YET:
                continue
            for name in _imports_all(path):
                top = name.split(".")[0]
                assert top != "adapters", f"{rel} imports {name}"
                assert not name.startswith("recon_tui.store"), f"{rel} imports {name}"


def test_services_import_neither_textual_nor_click() -> None:
    for path in modules("recon_tui/services"):
        rel = str(path.relative_to(ROOT))
        for name in _imports_all(path):
            top = name.split(".")[0]
            assert top not in ("textual", "click", "rich"), f"{rel} imports {name}"


def test_group_tables_have_one_owner() -> None:
    """No SQL on match groups, their members, per-pair state, rejections or notes outside
    ``recon_tui/store/``."""
    tables = ("match_groups", "group_members", "pair_states", "pair_totals", "rejections",
              "notes ")  # fmt: skip
    allowed: set[str] = set()
    for path in modules("recon_tui"):
        rel = str(path.relative_to(ROOT))
        if rel.startswith("recon_tui/store/") or rel in allowed:
            continue
        text = path.read_text("utf-8")
        for table in tables:
            for verb in ("FROM ", "JOIN ", "INTO ", "UPDATE "):
                assert verb + table not in text, f"{rel} has SQL on {table.strip()}"


def test_no_import_cycle_between_services() -> None:
    """The service modules import each other one way (no cycle, no lazy import to hide one)."""
    graph: dict[str, set[str]] = {}
    for path in modules("recon_tui/services"):
        name = "recon_tui.services." + path.stem
        graph[name] = {n for n in imports(path) if n.startswith("recon_tui.services.")}
    state: dict[str, int] = {}

    def visit(n: str, trail: list[str]) -> None:
        if state.get(n) == 1:
            raise AssertionError("import cycle: " + " -> ".join([*trail, n]))
        if state.get(n) == 2:
            return
        state[n] = 1
        for m in graph.get(n, ()):
            visit(m, [*trail, n])
        state[n] = 2

    for n in graph:
        visit(n, [])
