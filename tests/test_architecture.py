"""The code's shape, checked: layers import downwards only, no import cycles (not even
through imports inside functions), no private name crosses a module boundary, every module
imports on its own in a fresh interpreter, no module grows past 500 lines nor a function
past 60 (plotting aside), and the product describes itself as it is (no development
history in docs or code).

Imports are read from the source (`ast`), so an import inside a function counts as much as
one at the top: that is where cycles hide.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "data_gen", "models", "bench")
# What each layer may import of ours (docs/design.md "Architecture"; common/ sits below all).
ALLOWED = {
    "common": {"common"},
    "data_gen": {"common", "data_gen"},
    "models": {"common", "data_gen", "models"},
    "bench": {"common", "data_gen", "models", "bench"},
}
# Inside bench, layers by rank (bench/__init__.py): a module may import its own layer and
# any of lower rank, never a peer of the same rank or anything above. `errors` sits below all.
BENCH_LAYERS = {
    "errors": 0,
    "setup": 1,
    "stats": 1,
    "results": 1,
    "audit": 2,
    "rare": 2,
    "report": 2,
    "run": 3,
    "leaderboard": 4,
    "cli": 5,
}
MAX_LINES = 500
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    """Every module of the four packages; bench/perf holds scripts, not modules."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "perf" not in path.relative_to(ROOT).parts:
                out[_module_name(path)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for every import in the file."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            out += [(base, a.name) for a in node.names]
    return out


def _ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def _edges() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (a name that is itself a module counts as
    that module, e.g. `from data_gen import writer`)."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for module, taken in _imports(name, path):
            if not _ours(module):
                continue
            target = f"{module}.{taken}" if taken and f"{module}.{taken}" in MODULES else module
            if target in MODULES:
                edges[name].add(target)
    return edges


def test_the_module_list_is_complete():
    assert {"common.files", "data_gen.generate", "models.features", "bench.cli.app"} <= set(MODULES)


def test_layers_import_downwards_only():
    bad = [
        f"{name} imports {module}"
        for name, path in MODULES.items()
        for module, _ in _imports(name, path)
        if _ours(module) and module.split(".")[0] not in ALLOWED[name.split(".")[0]]
    ]
    assert not bad, bad


def test_no_import_cycles_even_through_function_level_imports():
    edges = _edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while comp[-1:] != [v]:
                comp.append(stack.pop())
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_no_private_name_is_imported_from_another_module():
    bad = [
        f"{name} takes {taken} from {module}"
        for name, path in MODULES.items()
        for module, taken in _imports(name, path)
        if _ours(module) and taken and taken.startswith("_") and module != name
    ]
    assert not bad, bad


def _bench_layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "bench" and len(parts) > 1 else None


def upward_bench_imports(imports: dict[str, list[str]]) -> list[str]:
    """`module imports target` for every bench import that is not strictly downwards."""
    bad = []
    for name, targets in imports.items():
        own = _bench_layer(name)
        for target in targets:
            layer = _bench_layer(target)
            if own is None or layer is None or layer == own:
                continue
            if own not in BENCH_LAYERS or layer not in BENCH_LAYERS or BENCH_LAYERS[layer] >= BENCH_LAYERS[own]:
                bad.append(f"{name} imports {target}")
    return bad


def test_every_bench_module_belongs_to_a_layer():
    orphans = [m for m in MODULES if m.startswith("bench.") and _bench_layer(m) not in BENCH_LAYERS]
    assert not orphans, orphans


def test_bench_layers_import_downwards_only():
    imports = {name: [m for m, _ in _imports(name, path) if _ours(m)] for name, path in MODULES.items()}
    bad = upward_bench_imports(imports)
    assert not bad, bad


def test_the_bench_layer_check_catches_an_upward_import():
    """The rule itself, on made-up imports: stats reading the run, a peer of the same rank,
    and the allowed direction."""
    made_up = {
        "bench.stats.metrics": ["bench.run.pipeline", "bench.results.schema", "bench.errors"],
        "bench.report.figures": ["bench.stats.rates", "bench.rare.powered"],
        "bench.cli.app": ["bench.leaderboard.suite", "bench.stats.metrics"],
    }
    assert upward_bench_imports(made_up) == [
        "bench.stats.metrics imports bench.run.pipeline",
        "bench.stats.metrics imports bench.results.schema",
        "bench.report.figures imports bench.rare.powered",
    ]


def test_no_module_over_500_lines():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def _is_plotting(path: Path, name: str) -> bool:
    """Plotting functions (`fig_*` in the report's figure modules) draw one figure top to
    bottom: splitting them scatters one picture over several functions."""
    return path.parent.name == "report" and "figures" in path.stem and name.startswith("fig_")


def test_no_function_over_60_lines_outside_plotting():
    long = [
        f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
        and not _is_plotting(path, node.name)
    ]
    assert not long, long


@pytest.mark.slow
def test_every_module_imports_alone_in_a_fresh_interpreter():
    """A module that works only after another was imported first (or a broken lazy
    import path) fails here; one interpreter per package keeps it cheap."""
    for pkg in PACKAGES:
        names = [m for m in MODULES if m.split(".")[0] == pkg]
        code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
        proc = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-2000:]


# Development history belongs to git log: no issue numbers, sessions, rounds or "before
# this change" figures in what a user reads.
HISTORY = re.compile(r"\bissues? #?\d+|\(issue|\bsessions? \d+|\bin session\b|\bold code\b", re.I)


def _product_text_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "Makefile"]
    files += [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*")) if p.suffix in (".py", ".yaml")]
    return files


def test_no_development_history_in_docs_or_code():
    hits = [
        f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
        for path in _product_text_files()
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if HISTORY.search(line)
    ]
    assert not hits, "\n".join(hits)


# The repository stands alone: no path outside it, and every design section it cites exists.
# (the pattern spells "/" and "." as classes so that grepping the repository finds nothing here either)
OUTSIDE = re.compile(r"\bshared[/]|DESIGN[.]md")
DOC_PATH = re.compile(r"\bdocs/[\w-]+\.md\b")
DESIGN_SECTION = re.compile(r'docs/design\.md(?:,? section)? "([^"]+)"')


def test_nothing_points_outside_the_repository():
    hits = [
        f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
        for path in _product_text_files() + sorted((ROOT / "tests").rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_every_cited_doc_and_design_section_exists():
    headings = {
        line.lstrip("#").strip()
        for line in (ROOT / "docs" / "design.md").read_text().splitlines()
        if line.startswith("#")
    }
    missing = []
    for path in _product_text_files():
        text = path.read_text()
        missing += [f"{path.relative_to(ROOT)}: {doc}" for doc in DOC_PATH.findall(text) if not (ROOT / doc).is_file()]
        for section in DESIGN_SECTION.findall(text):
            if not any(h == section or h.startswith(section) for h in headings):
                missing.append(f'{path.relative_to(ROOT)}: docs/design.md "{section}"')
    assert not missing, missing
