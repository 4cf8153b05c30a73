"""The import rules of `ftax/`, checked with `ast` (no third-party tool, nothing is imported).

`LAYERS` is the one layer table (ARCHITECTURE.md mirrors it; tests/test_architecture.py checks
that) and `MAY_IMPORT` says which layers each layer may import. `violations()` reports, one
readable line each:

- an import cycle between modules (each elementary cycle once, as `a -> b -> a`);
- a private cross-module import: `from ftax.x import _name` in a module other than `x`, and the
  attribute form `x._name` / `ftax.x._name` after `import ftax.x [as y]` or `from ftax import x`;
- an import that `MAY_IMPORT` does not allow (a lower layer importing a higher one, read importing
  study, anything but face importing face);
- a module that is in no layer (or in two), and an import of an `ftax.x` that does not exist.

What counts as an import: every `import` / `from ... import` node anywhere in a module, at module
level, inside functions, classes and try/except, plus `__import__("ftax.x", ...)` and
`importlib.import_module("ftax.x")` called with a string literal. Choices, on purpose:

- Imports under `if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`) are skipped: they never run, so
  they can make neither a cycle at import time nor a runtime dependency. Their `else:` branch runs
  and is checked.
- `__import__` / `import_module` with a non-literal argument (a variable) cannot be resolved and is
  not seen; keep such imports out of `ftax/`.
- The attribute form of a private import is matched by name, not by scope: `x._name` counts when
  the module binds `x` to an `ftax` module anywhere.
- Module names are relative to the package: `ftax/x.py` is `x`, `ftax/__init__.py` is
  `__init__`, a subpackage file `ftax/sub/y.py` is `sub.y` (and `ftax/sub/__init__.py` is `sub`).
  A subpackage module not in the table by its dotted name takes the layer of its first component.
  Self-imports are ignored.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# Top to bottom: each layer is a subpackage of ftax/ (its modules take its layer), except face, the
# top-level command line. `__init__` (the top package, its version) sits with store. An existing
# module or subpackage that is not listed is a violation; a listed one that does not exist is fine.
LAYERS: dict[str, tuple[str, ...]] = {
    "face": ("cli", "__main__"),
    "book": ("book",),
    "study": ("study",),
    "plan": ("plan",),
    "sweep": ("sweep",),
    "pages": ("pages",),
    "appendix": ("appendix",),
    "claims": ("claims",),
    "figures": ("figures",),
    "read": ("read",),
    "run": ("run",),
    "measure": ("measure",),
    "store": ("store", "__init__"),
}

# Which layers each layer may import (its own included). The measuring side (study, plan, sweep,
# run) and the reading side (pages, appendix, claims, figures, read) meet only in measure and store,
# and in book and face above both; nothing imports face.
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "face": tuple(LAYERS),
    "book": tuple(layer for layer in LAYERS if layer != "face"),
    "study": ("study", "plan", "sweep", "run", "measure", "store"),
    "plan": ("plan", "sweep", "run", "measure", "store"),
    "sweep": ("sweep", "run", "measure", "store"),
    "pages": ("pages", "claims", "appendix", "figures", "read", "measure", "store"),
    "appendix": ("appendix", "figures", "read", "measure", "store"),
    "claims": ("claims", "read", "measure", "store"),
    "figures": ("figures", "read", "measure", "store"),
    "read": ("read", "measure", "store"),
    "run": ("run", "measure", "store"),
    "measure": ("measure", "store"),
    "store": ("store",),
}

_INIT = "__init__"
_MAX_CYCLES = 50  # report at most this many cycles; past that the graph needs a person anyway


@dataclass(frozen=True)
class Import:
    """One import of a package module by a package module."""

    importer: str  # module doing the import, e.g. "sweep"
    imported: str  # module imported, e.g. "cli" ("__init__" for `import ftax`)
    names: tuple[str, ...]  # names taken from it (`from m import a, b`); () for the module itself
    line: int
    inside_function: bool


# --- finding the modules -------------------------------------------------------------------------

def modules(package_dir: Path) -> dict[str, Path]:
    """Module name (relative to the package) -> file, for every `*.py` under `package_dir`."""
    package_dir = Path(package_dir)
    found: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir).with_suffix("").parts
        if any(p.startswith(".") or p == "__pycache__" for p in parts):
            continue
        if len(parts) > 1 and parts[-1] == _INIT:
            parts = parts[:-1]  # ftax/sub/__init__.py is the module "sub"
        found[".".join(parts)] = path
    return found


def _own_package(module: str) -> list[str]:
    """The package a module's relative imports start from, as parts relative to the package root."""
    if module == _INIT:
        return []
    parts = module.split(".")
    return parts[:-1]  # "x" -> [], "sub.y" -> ["sub"]; "sub" (its __init__) handled by caller


# --- collecting the imports ----------------------------------------------------------------------

def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Collector:
    """Collects (absolute dotted target, names, line, inside_function) and `a.b._x` attributes."""

    def __init__(self, package: str, module: str, is_package_init: bool) -> None:
        self.package = package
        self.module = module
        own = _own_package(module) if not is_package_init else (
            [] if module == _INIT else module.split("."))
        self.own_package = [package, *own]
        self.depth = 0  # > 0 inside a function or lambda
        self.raw: list[tuple[str, tuple[str, ...], int, bool]] = []
        self.bindings: dict[str, str] = {}  # local dotted name -> absolute module it names
        self.attributes: list[tuple[str, str, int]] = []  # (dotted value, attr, line)

    # A hand-written walk: ast.NodeVisitor's per-node dispatch is several times slower.
    def walk(self, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            kind = type(child)
            if kind is ast.Import:
                self.visit_Import(child)
            elif kind is ast.ImportFrom:
                self.visit_ImportFrom(child)
            elif kind is ast.If and _is_type_checking(child.test):
                # only the else branch ever runs
                self.walk(ast.Module(body=child.orelse, type_ignores=[]))
                continue
            elif kind is ast.Call:
                self.visit_Call(child)
            elif kind is ast.Attribute:
                self.visit_Attribute(child)
            elif kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda):
                self.depth += 1
                self.walk(child)
                self.depth -= 1
                continue
            self.walk(child)

    def _add(self, target: str, names: tuple[str, ...], line: int) -> None:
        if target == self.package or target.startswith(self.package + "."):
            self.raw.append((target, names, line, self.depth > 0))

    # statements
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, (), node.lineno)
            if alias.asname:
                self.bindings[alias.asname] = alias.name
            else:  # `import ftax.x` binds `ftax`, and `ftax.x` is reachable as written
                parts = alias.name.split(".")
                for i in range(1, len(parts) + 1):
                    self.bindings[".".join(parts[:i])] = ".".join(parts[:i])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base_parts = self.own_package[: len(self.own_package) - (node.level - 1)]
            if node.level - 1 >= len(self.own_package):
                return  # beyond the top of the package: not ours
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        names = tuple(a.name for a in node.names)
        self._add(base, names, node.lineno)
        for alias in node.names:
            if alias.name != "*":  # may be a submodule; resolved against the module list later
                self.bindings[alias.asname or alias.name] = f"{base}.{alias.name}"

    # dynamic imports with a literal
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else None)
        target = _literal(node.args[0]) if node.args else None
        if name == "__import__" and target:
            fromlist: tuple[str, ...] = ()
            given = node.args[3] if len(node.args) > 3 else next(
                (k.value for k in node.keywords if k.arg == "fromlist"), None)
            if isinstance(given, (ast.List, ast.Tuple)):
                fromlist = tuple(s for s in map(_literal, given.elts) if s)
            self._add(target, fromlist, node.lineno)
        elif name == "import_module" and target:
            if target.startswith("."):
                anchor = _literal(node.args[1]) if len(node.args) > 1 else next(
                    (_literal(k.value) for k in node.keywords if k.arg == "package"), None)
                if anchor is None:
                    return
                level = len(target) - len(target.lstrip("."))
                anchor_parts = anchor.split(".")
                rest = target[level:]
                target = ".".join(anchor_parts[: len(anchor_parts) - (level - 1)] + ([rest] if rest else []))
            self._add(target, (), node.lineno)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node.value)
        if dotted is not None:
            self.attributes.append((dotted, node.attr, node.lineno))


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _resolve(target: str, package: str, known: dict[str, Path]) -> str:
    """Absolute dotted name -> module name relative to the package (the longest existing prefix)."""
    if target == package:
        return _INIT
    rel = target[len(package) + 1:]
    parts = rel.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in known:
            return ".".join(parts[:i])
    return rel  # does not exist; reported by violations()


def _submodule(base: str, name: str) -> str:
    return name if base == _INIT else f"{base}.{name}"


_Scan = tuple[dict[str, Path], list[tuple[str, _Collector]]]


def _scan(package_dir: Path, package: str) -> _Scan:
    """Parse every module once: (module -> file, [(module, what it imports and uses)])."""
    known = modules(package_dir)
    collected = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        collector = _Collector(package, module, is_package_init=path.name == "__init__.py")
        collector.walk(tree)
        collected.append((module, collector))
    return known, collected


def imports(package_dir: Path, package: str) -> list[Import]:
    """Every import of a `package` module by a `package` module under `package_dir`.

    `from ftax import results, models` gives one Import per submodule (names `()`), and
    `from ftax import __version__` an Import of `__init__` with names `("__version__",)`.
    """
    return _imports(_scan(Path(package_dir), package), package)


def _imports(scan: _Scan, package: str) -> list[Import]:
    known, collected = scan
    found: list[Import] = []
    for module, collector in collected:
        for target, names, line, inside in collector.raw:
            base = _resolve(target, package, known)
            rest: list[str] = []
            for name in names:
                sub = _submodule(base, name)
                if sub in known:  # the name is a submodule: an import of that module
                    found.append(Import(module, sub, (), line, inside))
                else:
                    rest.append(name)
            if rest or not names:
                found.append(Import(module, base, tuple(rest), line, inside))
    return found


def _private_attributes(scan: _Scan, package: str) -> list[tuple[str, str, str, int]]:
    """(importer, module, _name, line) for `x._name` where `x` is bound to another package module."""
    known, collected = scan
    hits = []
    for module, collector in collected:
        bound: dict[str, str] = {}
        for local, target in collector.bindings.items():
            if target == package or target.startswith(package + "."):
                resolved = _resolve(target, package, known)
                if resolved in known and (target == package or target[len(package) + 1:] == resolved):
                    bound[local] = resolved
        for dotted, attr, line in collector.attributes:
            owner = bound.get(dotted)
            if owner is not None and owner != module and _is_private(attr):
                hits.append((module, owner, attr, line))
    return hits


# --- the rules -----------------------------------------------------------------------------------

def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _layer_index(layers: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for layer, names in layers.items():
        for name in names:
            index.setdefault(name, []).append(layer)
    return index


def _layer_of(module: str, index: dict[str, list[str]]) -> str | None:
    for key in (module, module.split(".")[0]):
        if key in index:
            return index[key][0]
    return None


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Elementary cycles, each once, starting from its smallest module: [a, b, a]."""
    found: list[list[str]] = []
    nodes = sorted(edges)
    for start in nodes:
        stack = [(start, [start])]
        while stack and len(found) < _MAX_CYCLES:
            node, path = stack.pop()
            for nxt in sorted(edges.get(node, ()), reverse=True):
                if nxt == start:
                    found.append(path + [start])
                elif nxt > start and nxt not in path:
                    stack.append((nxt, path + [nxt]))
    found.sort()
    return found


def violations(package_dir: Path, package: str, layers: dict[str, tuple[str, ...]] = LAYERS,
               may_import: dict[str, tuple[str, ...]] = MAY_IMPORT) -> list[str]:
    """Every broken rule, one readable line each, naming `package/file.py:line`."""
    package_dir = Path(package_dir)
    scan = _scan(package_dir, package)
    known = scan[0]
    found = _imports(scan, package)
    index = _layer_index(layers)

    def where(module: str, line: int) -> str:
        path = known.get(module)
        rel = path.relative_to(package_dir).as_posix() if path else f"{module}.py"
        return f"{package_dir.name}/{rel}:{line}"

    def how(imp: Import) -> str:
        return "inside a function" if imp.inside_function else "at module level"

    out: list[str] = []

    # (d) a module in no layer, or in two
    for module in known:
        if module.split(".")[0] in index and module not in index:
            continue  # a subpackage module under a listed subpackage
        if module not in index:
            out.append(f"{where(module, 1)}: module {module} is in no layer: "
                       f"add it to LAYERS and ARCHITECTURE.md")
        elif len(index[module]) > 1:
            out.append(f"{where(module, 1)}: module {module} is in several layers "
                       f"({', '.join(index[module])}): keep it in one")

    # imports of modules that do not exist (a stale name would hide an edge)
    for imp in found:
        if imp.imported not in known:
            out.append(f"{where(imp.importer, imp.line)}: {imp.importer} imports "
                       f"{package}.{imp.imported}, which is no module in {package_dir.name}/")

    # (b) private cross-module imports
    for imp in found:
        private = [n for n in imp.names if _is_private(n)]
        if private and imp.imported != imp.importer:
            out.append(f"{where(imp.importer, imp.line)}: {imp.importer} imports private "
                       f"{', '.join(private)} from {imp.imported} ({how(imp)}): make it public "
                       f"or move it to the module that uses it")
    for importer, owner, attr, line in _private_attributes(scan, package):
        out.append(f"{where(importer, line)}: {importer} uses private {owner}.{attr}: "
                   f"make it public or move it to the module that uses it")

    # (c) imports the layer table does not allow
    for imp in found:
        if imp.imported == imp.importer or imp.imported not in known:
            continue
        src, dst = _layer_of(imp.importer, index), _layer_of(imp.imported, index)
        if src is None or dst is None:
            continue  # reported as "in no layer" above
        if dst not in may_import.get(src, ()):
            allowed = ", ".join(may_import.get(src, ())) or "nothing"
            out.append(f"{where(imp.importer, imp.line)}: {imp.importer} ({src}) imports "
                       f"{imp.imported} ({dst}) {how(imp)}; {src} may import {allowed}")

    # (a) cycles
    edges: dict[str, set[str]] = {}
    first: dict[tuple[str, str], Import] = {}
    for imp in found:
        if imp.imported != imp.importer and imp.imported in known:
            edges.setdefault(imp.importer, set()).add(imp.imported)
            first.setdefault((imp.importer, imp.imported), imp)
    cycles = _cycles(edges)
    for cycle in cycles:
        steps = "; ".join(
            f"{where(a, first[a, b].line)} imports {b} {how(first[a, b])}"
            for a, b in zip(cycle, cycle[1:]))
        out.append(f"import cycle: {' -> '.join(cycle)} ({steps})")
    if len(cycles) >= _MAX_CYCLES:
        out.append(f"import cycle: more than {_MAX_CYCLES} cycles; only the first are listed")
    return out


# --- ARCHITECTURE.md ------------------------------------------------------------------------------

_EVERY = {"every layer", "every", "all", "all layers", "any layer", "any"}


def _clean(cell: str) -> str:
    return cell.strip().strip("`*_ ").replace("\\_", "_").strip("`* ")


def _clean_name(name: str) -> str:
    name = name.strip().replace("\\_", "_").strip("`* ").strip()
    if name.startswith("ftax."):
        name = name[len("ftax."):]
    name = name.rstrip("/")  # a subpackage is written `study/`
    return name[:-3] if name.endswith(".py") else name


def _table_rows(markdown_text: str) -> list[list[str]]:
    """Body rows of the first table whose header is `layer | subpackage (or modules) | may import`."""
    rows: list[list[str]] = []
    in_table = False
    for raw in markdown_text.splitlines():
        line = raw.strip()
        if not line.startswith("|"):
            if in_table:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if not in_table:
            header = [_clean(c).lower() for c in cells]
            if header[:3] in (["layer", "modules", "may import"], ["layer", "subpackage", "may import"]):
                in_table = True
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue  # the |---|---| separator
        rows.append(cells)
    return rows


def documented_layers(markdown_text: str) -> dict[str, set[str]]:
    """ARCHITECTURE.md's layer table: layer -> its modules, in the document's order."""
    out: dict[str, set[str]] = {}
    for cells in _table_rows(markdown_text):
        names = cells[1] if len(cells) > 1 else ""
        out[_clean(cells[0]).lower()] = {n for n in map(_clean_name, names.split(",")) if n}
    return out


def documented_may_import(markdown_text: str) -> dict[str, set[str]]:
    """ARCHITECTURE.md's "may import" column: layer -> layers ("every layer" = all of the table's)."""
    rows = _table_rows(markdown_text)
    every = {_clean(cells[0]).lower() for cells in rows}
    out: dict[str, set[str]] = {}
    for cells in rows:
        text = cells[2].strip().strip(".").strip() if len(cells) > 2 else ""
        if _clean(text).lower() in _EVERY:
            out[_clean(cells[0]).lower()] = set(every)
        else:
            out[_clean(cells[0]).lower()] = {
                n for n in (_clean_name(x).lower() for x in text.split(",")) if n}
    return out


# --- the subpackages' own word --------------------------------------------------------------------

def declared_may_import(init_text: str) -> set[str] | None:
    """The layers a subpackage's `__init__` docstring says it may import (its `May import: a, b.` line), or None."""
    doc = ast.get_docstring(ast.parse(init_text)) or ""
    for line in doc.splitlines():
        if line.startswith("May import:"):
            names = line[len("May import:"):].strip().rstrip(".").split(",")
            return {n for n in (_clean_name(x).lower() for x in names) if n}
    return None
