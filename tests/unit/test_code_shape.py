"""The shape of the product code: every function fits in a reader's head (at most 70 lines,
from its `def` to its last line, decorators aside), and no check that protects credits is
an `assert`, which `python -O` removes."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("registry", "projections", "devtools", "schemas")
GENERATED = ROOT / "registry" / "api"
FUNCTION_LINES_MAX = 70


def product_files() -> Iterator[Path]:
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if GENERATED not in path.parents:
                yield path


def functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def long_functions(source: str, name: str) -> list[str]:
    found = []
    for node in functions(ast.parse(source, name)):
        assert node.end_lineno is not None
        length = node.end_lineno - node.lineno + 1
        if length > FUNCTION_LINES_MAX:
            found.append(f"{name}:{node.lineno} {node.name} has {length} lines")
    return found


def test_the_walker_finds_a_long_function() -> None:
    lines = [f"    x{index} = {index}\n" for index in range(FUNCTION_LINES_MAX)]
    assert long_functions("def short():\n" + "".join(lines[:-1]), "short.py") == []
    body = "".join(lines)
    assert long_functions(f"def long():\n{body}", "long.py") == [
        f"long.py:1 long has {FUNCTION_LINES_MAX + 1} lines"
    ]


def test_no_product_function_is_over_70_lines() -> None:
    found: list[str] = []
    for path in product_files():
        found += long_functions(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == []


def test_the_product_has_files_to_check() -> None:
    assert len(list(product_files())) > 50
