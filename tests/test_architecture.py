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
