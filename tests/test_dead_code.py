"""No dead code: every public module-level name of `ftax/` is used by the project, not by its tests alone.

A function only a test calls is code the book does not run: it rots without anyone reading its output, and a
reader takes it for part of the method. Usage is counted in `ftax/`, `notebooks/`, `benchmarks/` and `book/`
(a name used inside its own module counts; its definition and its `__all__` entry do not).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USERS = ("ftax", "notebooks", "benchmarks", "book")
SUFFIXES = {".py", ".ipynb", ".md", ".yml", ".yaml"}
# Public on purpose though only tests call it: a registry's undo of `register`, which a test that registers a
# fake backend needs to leave the registry as it found it.
FOR_EXTENSIONS = {("run.backends", "unregister")}


def _public_names(tree: ast.Module) -> list[tuple[str, int]]:
    """(name, line) of the module-level functions, classes and assigned names not starting with `_`."""
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((node.name, node.lineno))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [(t.id, node.lineno) for t in targets if isinstance(t, ast.Name)]
    return [(name, line) for name, line in found if not name.startswith("_")]


def _without_all(text: str, tree: ast.Module) -> str:
    """`text` with its `__all__ = [...]` statement blanked: listing a name there is no use of it."""
    lines = text.splitlines()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            for i in range(node.lineno - 1, node.end_lineno):
                lines[i] = ""
    return "\n".join(lines)


def unused_names() -> list[str]:
    texts = {path: path.read_text(encoding="utf-8") for folder in USERS for path in (ROOT / folder).rglob("*")
             if path.suffix in SUFFIXES and path.is_file() and "_build" not in path.parts}
    unused = []
    for path in sorted((ROOT / "ftax").rglob("*.py")):
        tree = ast.parse(texts[path])
        own = _without_all(texts[path], tree)
        module = path.relative_to(ROOT / "ftax").with_suffix("").as_posix().replace("/", ".")
        for name, _line in _public_names(tree):
            if (module, name) in FOR_EXTENSIONS:
                continue
            word = re.compile(rf"\b{re.escape(name)}\b")
            if len(word.findall(own)) <= 1 and not any(word.search(t) for p, t in texts.items() if p != path):
                unused.append(f"ftax/{module.replace('.', '/')}.py: {name}")
    return unused


def test_every_public_name_is_used_outside_the_tests():
    assert unused_names() == []
