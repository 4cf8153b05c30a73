"""The architecture of ftax/: the import rules (on small synthetic packages, then ftax), job lines, module sizes.

The rules and the layer table live in tests/architecture_rules.py; ARCHITECTURE.md mirrors them.
"""
from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

import ftax
from architecture_rules import (
    LAYERS,
    MAY_IMPORT,
    Import,
    declared_may_import,
    documented_layers,
    documented_may_import,
    imports,
    modules,
    violations,
)

# A small table for the synthetic packages: top (face) to bottom (store), plus read beside study.
TOY_LAYERS = {
    "face": ("cli", "__main__"),
    "study": ("study",),
    "read": ("report",),
    "run": ("runner",),
    "store": ("store", "__init__"),
}
TOY_MAY_IMPORT = {
    "face": ("face", "study", "read", "run", "store"),
    "study": ("study", "run", "store"),
    "read": ("read", "store"),
    "run": ("run", "store"),
    "store": ("store",),
}
ROOT = Path(__file__).resolve().parents[1]


def make_package(tmp_path: Path, files: dict[str, str], name: str = "pkg") -> Path:
    """Write a package `name` under tmp_path; files maps relative paths to source text."""
    root = tmp_path / name
    root.mkdir()
    files = {"__init__.py": '"""toy."""\n', **files}
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def check(root: Path) -> list[str]:
    return violations(root, root.name, layers=TOY_LAYERS, may_import=TOY_MAY_IMPORT)


CLEAN = {
    "store.py": "import os\nVALUE = 1\n",
    "runner.py": "from pkg.store import VALUE\n",
    "study.py": "from pkg import runner, store\n\ndef go():\n    from pkg.runner import VALUE\n",
    "report.py": "import pkg.store\n",
    "cli.py": "from pkg import study, report\nfrom pkg import __version__\n",
    "__main__.py": "from pkg.cli import study\n",
}


def test_clean_package_reports_nothing(tmp_path):
    assert check(make_package(tmp_path, CLEAN)) == []


def test_cycle_through_imports_inside_functions(tmp_path):
    root = make_package(tmp_path, {
        **CLEAN,
        "study.py": "def go():\n    from pkg import runner\n",
        "runner.py": "def back():\n    from pkg.study import go\n",  # also an upward import
        "store.py": "",
    })
    found = check(root)
    cycles = [v for v in found if v.startswith("import cycle")]
    assert len(cycles) == 1, found
    assert cycles[0].startswith("import cycle: runner -> study -> runner (pkg/runner.py:2 imports study")
    assert "pkg/study.py:2 imports runner inside a function" in cycles[0]


def test_longer_cycle_reported_once(tmp_path):
    root = make_package(tmp_path, {
        "store.py": "import pkg.runner\n",
        "runner.py": "from pkg import study\n",
        "study.py": "from pkg.store import x\n",
    })
    cycles = [v for v in check(root) if v.startswith("import cycle")]
    assert [c.split(" (")[0] for c in cycles] == ["import cycle: runner -> study -> store -> runner"]


def test_private_cross_module_import(tmp_path):
    root = make_package(tmp_path, {
        **CLEAN,
        "store.py": "_helper = 1\n__all__ = []\nPUBLIC = 2\n",
        "runner.py": "def f():\n    from pkg.store import PUBLIC, _helper, __all__\n",
    })
    found = check(root)
    assert found == ["pkg/runner.py:2: runner imports private _helper from store (inside a function): "
                     "make it public or move it to the module that uses it"]


def test_private_name_used_through_the_module(tmp_path):
    root = make_package(tmp_path, {
        **CLEAN,
        "store.py": "_helper = 1\n",
        "runner.py": "import pkg.store\nfrom pkg import store as s\n\n"
                     "a = pkg.store._helper\nb = s._helper\nc = s.__name__\n",
        "study.py": "from pkg import store\n\ndef f():\n    return store._helper\n",
    })
    found = check(root)
    assert found == [
        "pkg/runner.py:4: runner uses private store._helper: make it public or move it to the module that uses it",
        "pkg/runner.py:5: runner uses private store._helper: make it public or move it to the module that uses it",
        "pkg/study.py:4: study uses private store._helper: make it public or move it to the module that uses it",
    ]


def test_private_name_inside_its_own_module_is_fine(tmp_path):
    root = make_package(tmp_path, {**CLEAN, "store.py": "import pkg.store\n_x = 1\ny = pkg.store._x\n"})
    assert check(root) == []


def test_upward_import_inside_a_function(tmp_path):
    root = make_package(tmp_path, {**CLEAN, "store.py": "def f():\n    from pkg.runner import VALUE\n"})
    found = [v for v in check(root) if not v.startswith("import cycle")]
    assert found == ["pkg/store.py:2: store (store) imports runner (run) inside a function; "
                     "store may import store"]


def test_read_may_not_import_study(tmp_path):
    root = make_package(tmp_path, {**CLEAN, "report.py": "from pkg.study import go\n"})
    assert check(root) == ["pkg/report.py:1: report (read) imports study (study) at module level; "
                           "read may import read, store"]


def test_nothing_but_face_imports_face(tmp_path):
    root = make_package(tmp_path, {**CLEAN, "study.py": "def f():\n    from pkg.cli import _opts\n"})
    found = [v for v in check(root) if not v.startswith("import cycle")]
    assert "pkg/study.py:2: study imports private _opts from cli (inside a function)" in found[0]
    assert found[1] == ("pkg/study.py:2: study (study) imports cli (face) inside a function; "
                        "study may import study, run, store")


def test_module_in_no_layer(tmp_path):
    root = make_package(tmp_path, {**CLEAN, "stray.py": "X = 1\n"})
    assert check(root) == ["pkg/stray.py:1: module stray is in no layer: add it to LAYERS and ARCHITECTURE.md"]


def test_listed_modules_that_do_not_exist_are_fine(tmp_path):
    layers = {**TOY_LAYERS, "read": ("report", "not_written_yet")}
    root = make_package(tmp_path, CLEAN)
    assert violations(root, "pkg", layers=layers, may_import=TOY_MAY_IMPORT) == []


def test_relative_imports_are_resolved(tmp_path):
    root = make_package(tmp_path, {
        **CLEAN,
        "store.py": "from . import runner\nfrom .runner import VALUE\n",
        "sub/__init__.py": "from .. import store\nfrom . import leaf\n",
        "sub/leaf.py": "from ..runner import VALUE\nfrom . import other\nfrom .other import _p\n",
        "sub/other.py": "_p = 1\n",
    })
    layers = {**TOY_LAYERS, "store": (*TOY_LAYERS["store"], "sub")}
    got = {(i.importer, i.imported, i.names) for i in imports(root, "pkg")}
    assert {("store", "runner", ()), ("store", "runner", ("VALUE",)), ("sub", "store", ()),
            ("sub", "sub.leaf", ()), ("sub.leaf", "runner", ("VALUE",)),
            ("sub.leaf", "sub.other", ()), ("sub.leaf", "sub.other", ("_p",))} <= got
    found = violations(root, "pkg", layers=layers, may_import=TOY_MAY_IMPORT)
    assert "pkg/store.py:1: store (store) imports runner (run) at module level; store may import store" in found
    assert "pkg/sub/leaf.py:1: sub.leaf (store) imports runner (run) at module level; store may import store" in found
    assert any(v.startswith("pkg/sub/leaf.py:3: sub.leaf imports private _p from sub.other") for v in found)
    assert not any("no layer" in v for v in found)  # sub.* take the layer of sub


def test_type_checking_imports_are_skipped(tmp_path):
    root = make_package(tmp_path, {
        **CLEAN,
        "store.py": (
            "import typing\nfrom typing import TYPE_CHECKING\n\n"
            "if TYPE_CHECKING:\n    from pkg.runner import Thing\n"
            "if typing.TYPE_CHECKING:\n    import pkg.study\n"
            "else:\n    import pkg.cli\n"
        ),
    })
    found = [v for v in check(root) if not v.startswith("import cycle")]  # store -> cli closes one
    assert [(i.importer, i.imported, i.line) for i in imports(root, "pkg") if i.importer == "store"] == [
        ("store", "cli", 9)]
    assert found == ["pkg/store.py:9: store (store) imports cli (face) at module level; store may import store"]


def test_dynamic_imports_with_a_literal(tmp_path):
    root = make_package(tmp_path, {
        **CLEAN,
        "store.py": (
            "import importlib\nfrom importlib import import_module\n\n"
            "def f(name):\n"
            "    a = __import__('pkg.runner', fromlist=['VALUE'])\n"
            "    b = importlib.import_module('pkg.study')\n"
            "    c = import_module('.cli', 'pkg')\n"
            "    d = importlib.import_module(name)  # not a literal: not seen\n"
            "    e = importlib.import_module('json')  # not ours\n"
        ),
    })
    got = [i for i in imports(root, "pkg") if i.importer == "store"]
    assert got == [Import("store", "runner", ("VALUE",), 5, True), Import("store", "study", (), 6, True),
                   Import("store", "cli", (), 7, True)]
    assert len([v for v in check(root) if v.startswith("pkg/store.py")]) == 3


def test_from_package_import_submodules_and_names(tmp_path):
    root = make_package(tmp_path, {**CLEAN, "cli.py": "import pkg\nfrom pkg import study, report, __version__\n"})
    got = [(i.imported, i.names) for i in imports(root, "pkg") if i.importer == "cli"]
    assert got == [("__init__", ()), ("study", ()), ("report", ()), ("__init__", ("__version__",))]
    assert sorted(modules(root)) == ["__init__", "__main__", "cli", "report", "runner", "store", "study"]


def test_import_of_a_missing_module_is_reported(tmp_path):
    root = make_package(tmp_path, {**CLEAN, "study.py": "from pkg.gone import X\n"})
    assert check(root) == ["pkg/study.py:1: study imports pkg.gone, which is no module in pkg/"]


# --- the real package ----------------------------------------------------------------------------

def test_layer_table_is_consistent():
    assert list(MAY_IMPORT) == list(LAYERS)
    names = [m for mods in LAYERS.values() for m in mods]
    assert len(names) == len(set(names)), "a module is in two layers"
    for layer, allowed in MAY_IMPORT.items():
        assert layer in allowed and set(allowed) <= set(LAYERS)
        below = list(LAYERS)[list(LAYERS).index(layer):]
        assert layer == "face" or set(allowed) <= set(below), f"{layer} may import a layer above it"
    assert all("face" not in allowed for layer, allowed in MAY_IMPORT.items() if layer != "face")


def test_ftax_follows_the_layers():
    found = violations(Path(ftax.__file__).parent, "ftax")
    assert not found, f"{len(found)} import rule violation(s) in ftax/:\n  " + "\n  ".join(found)



MAX_JOB_LINE = 120
MAX_MODULE_LINES = 420  # "no module over ~400 lines", with a little room so a one-line fix needs no split
_CODE_SPAN = re.compile(r"`[^`]*`")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|et al|vs)\.")
_SENTENCE_END = re.compile(r"[.?!]\s")


def job_line_problem(source: str) -> str | None:
    """Why a module's docstring does not open with its job in one sentence, or None when it does.

    The first line must be one complete sentence: non-empty, at most MAX_JOB_LINE characters, ending in ".",
    with no sentence ending inside it (outside `code` and e.g./i.e./et al./vs), then a blank line or the end.
    """
    doc = ast.get_docstring(ast.parse(source), clean=False)
    if doc is None:
        return "no module docstring"
    first, *rest = doc.split("\n")
    prose = _ABBREVIATION.sub("", _CODE_SPAN.sub("``", first))
    if not first.strip():
        return "the first line is empty"
    if first != first.strip():
        return "the first line has leading or trailing space"
    if len(first) > MAX_JOB_LINE:
        return f"the first line has {len(first)} characters, more than {MAX_JOB_LINE}"
    if not first.endswith("."):
        return "the first line does not end with '.'"
    if _SENTENCE_END.search(prose):
        return "the first line holds more than one sentence"
    if rest and rest[0].strip():
        return "the first line is not followed by a blank line"
    return None


@pytest.mark.parametrize("source, problem", [
    ('"""Store records on disk.\n\nWhy: one file per machine."""\n', None),
    ('"""Store records on disk."""\n', None),
    ('"""Run `python -m ftax` (e.g. `ftax env`) vs nothing."""\n', None),
    ("X = 1\n", "no module docstring"),
    ('"""\nStore records."""\n', "the first line is empty"),
    ('"""Store records on disk"""\n', "the first line does not end with '.'"),
    ('"""Store records on disk,\nand load them."""\n', "the first line does not end with '.'"),
    ('"""Store records.\nLoad them."""\n', "the first line is not followed by a blank line"),
    ('"""Do they cover? The store."""\n', "the first line holds more than one sentence"),
    ('"""' + "x" * 120 + '."""\n', "the first line has 121 characters, more than 120"),
])
def test_job_line_problem(source, problem):
    assert job_line_problem(source) == problem


def test_every_module_opens_with_its_job_in_one_line():
    package = Path(ftax.__file__).parent
    found = {str(path.relative_to(package.parent)): job_line_problem(path.read_text())
             for path in sorted(package.rglob("*.py"))}
    bad = {path: problem for path, problem in found.items() if problem}
    assert len(found) > 50 and not bad, "modules without a one-line job docstring:\n  " + "\n  ".join(
        f"{path}: {problem}" for path, problem in bad.items())


def test_no_module_is_over_the_line_limit():
    package = Path(ftax.__file__).parent
    lines = {str(path.relative_to(package.parent)): len(path.read_text().splitlines())
             for path in sorted(package.rglob("*.py"))}
    long = {path: n for path, n in lines.items() if n > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by job): {long}"


TABLE = """
# Architecture

| layer | modules | may import |
|---|---|---|
| face | `cli`, `book`, `explorer`, `__main__` | every layer |
|  study |  `studies`,`sweep` , ray_engine, `validation`  | study, run, measure, store |
| read | `analysis` | read, measure, store |

Text after the table.
"""


def test_documented_layers_parses_the_table():
    assert documented_layers(TABLE) == {
        "face": {"cli", "book", "explorer", "__main__"},
        "study": {"studies", "sweep", "ray_engine", "validation"},
        "read": {"analysis"},
    }
    assert list(documented_layers(TABLE)) == ["face", "study", "read"]
    assert documented_may_import(TABLE) == {
        "face": {"face", "study", "read"},
        "study": {"study", "run", "measure", "store"},
        "read": {"read", "measure", "store"},
    }


def test_architecture_md_mirrors_layers():
    doc = ROOT / "ARCHITECTURE.md"
    if not doc.exists():
        pytest.skip("ARCHITECTURE.md not written yet")
    text = doc.read_text()
    written = documented_layers(text)
    assert written, "ARCHITECTURE.md has no `| layer | modules | may import |` table"
    assert list(written) == list(LAYERS), "ARCHITECTURE.md's layers (top to bottom) differ from LAYERS"
    existing = set(modules(Path(ftax.__file__).parent))
    for layer, names in LAYERS.items():
        missing = {m for m in names if m in existing} - written[layer]
        extra = written[layer] - set(names)
        assert not missing, f"ARCHITECTURE.md's {layer} row lacks {sorted(missing)} (in LAYERS)"
        assert not extra, f"ARCHITECTURE.md's {layer} row has {sorted(extra)}, not in LAYERS[{layer!r}]"
    assert documented_may_import(text) == {k: set(v) for k, v in MAY_IMPORT.items()}, (
        "ARCHITECTURE.md's 'may import' column differs from MAY_IMPORT")


def test_every_subpackage_is_a_layer_and_says_what_it_may_import():
    package = Path(ftax.__file__).parent
    subpackages = sorted(p.parent.name for p in package.glob("*/__init__.py"))
    assert subpackages, "ftax/ has no subpackages"
    for name in subpackages:
        layer = next((layer for layer, members in LAYERS.items() if name in members), None)
        assert layer is not None, f"ftax/{name}/ is in no layer: add it to LAYERS and ARCHITECTURE.md"
        declared = declared_may_import((package / name / "__init__.py").read_text())
        assert declared is not None, f"ftax/{name}/__init__.py's docstring has no 'May import:' line"
        assert declared | {layer} == set(MAY_IMPORT[layer]), (
            f"ftax/{name}/__init__.py says it may import {sorted(declared)}; MAY_IMPORT[{layer!r}] is "
            f"{sorted(MAY_IMPORT[layer])}")
    top_level = sorted(p.stem for p in package.glob("*.py"))
    assert top_level == ["__init__", "__main__"], f"ftax/ holds modules outside every subpackage: {top_level}"


def test_declared_may_import_reads_the_docstring_line():
    assert declared_may_import('"""Job.\n\nMay import: read, `measure`, store.\n"""\n') == {"read", "measure", "store"}
    assert declared_may_import('"""Job, and nothing else."""\n') is None


def test_architecture_md_names_each_module_under_its_subpackage():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    sections = {}
    for part in text.split("\n### ")[1:]:
        heading, _, body = part.partition("\n")
        sections[heading.strip().strip("`").rstrip("/")] = body
    for module in modules(Path(ftax.__file__).parent):
        if "." not in module:
            continue  # the top-level modules and the subpackages themselves
        sub, name = module.rsplit(".", 1)
        assert sub in sections, f"ARCHITECTURE.md has no '### `{sub}/`' section"
        assert f"`{name}`" in sections[sub], f"ARCHITECTURE.md's `{sub}/` section does not name `{name}`"
