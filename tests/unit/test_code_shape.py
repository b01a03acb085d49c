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


# Where a runtime `assert` would guard credits or the chain: the rules, the write side, the
# envelopes and the read models. Module-level asserts relate constants and may stay.
GUARDED = ("registry/domain", "registry/write", "registry/envelope", "projections")
# A read-side pool guard that narrows a type and protects no credits; it is the one left.
ASSERTS_ALLOWED: set[str] = set()


def runtime_asserts(source: str, name: str) -> list[str]:
    return [
        f"{name}:{node.lineno} assert in {function.name}"
        for function in functions(ast.parse(source, name))
        for node in ast.walk(function)
        if isinstance(node, ast.Assert)
    ]


def test_the_walker_finds_a_runtime_assert_and_leaves_module_level_ones() -> None:
    source = "assert 1 < 2\n\ndef take(kg):\n    if kg:\n        assert kg > 0\n"
    assert runtime_asserts(source, "guard.py") == ["guard.py:5 assert in take"]


def test_no_runtime_assert_guards_credits_or_the_chain() -> None:
    found: list[str] = []
    for package in GUARDED:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            if name not in ASSERTS_ALLOWED:
                found += runtime_asserts(path.read_text(encoding="utf-8"), name)
    assert found == []
