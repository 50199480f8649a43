"""The package boundaries of the layout: the engine (core) imports neither the integration edge
(plugin) nor the offline tools (tools), and no two engine modules import each other."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names a module imports (relative imports resolved against ``package``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _core_modules() -> dict[str, tuple[Path, str]]:
    mods = {}
    for path in (ROOT / "core").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_init = parts[-1] == "__init__"
        if is_init:
            parts = parts[:-1]
        name = "marionette." + ".".join(parts)
        mods[name] = (path, name if is_init else name.rsplit(".", 1)[0])
    return mods


def test_core_imports_neither_plugin_nor_tools():
    bad = []
    for name, (path, package) in _core_modules().items():
        for target in _imports(path, package):
            if target.startswith(("marionette.plugin", "marionette.tools")) or target in ("plugin", "tools"):
                bad.append(f"{path.relative_to(ROOT)} imports {target}")
    assert not bad, "core must not import the edge or the offline tools:\n" + "\n".join(sorted(bad))


def test_no_import_cycles_between_core_modules():
    mods = _core_modules()
    inits = {n for n, (p, _) in mods.items() if p.name == "__init__.py"}
    graph = {}
    for name, (path, package) in mods.items():
        targets = set()
        for t in _imports(path, package):
            while t and t not in mods:
                t = t.rpartition(".")[0]
            if t and t != name and t not in inits:  # package re-exports are not module cycles
                targets.add(t)
        graph[name] = targets

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            v = todo.pop()
            if v == goal:
                return True
            if v not in seen:
                seen.add(v)
                todo.extend(graph.get(v, ()))
        return False

    cycles = sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if a < b and reaches(b, a))
    assert not cycles, "import cycles in core:\n" + "\n".join(cycles)
