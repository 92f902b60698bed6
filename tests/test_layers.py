"""The data path flows one way: sources -> signal -> detect -> coaching -> outputs, and only
coach.cli wires them together. Walks every module's imports (ast, lazy imports included)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# a module under the key may not import any of the listed packages
FORBIDDEN = {
    "coach.sources": ("coach.coaching", "coach.outputs", "coach.cli", "coach.simulate"),
    "coach.signal": ("coach.coaching", "coach.outputs", "coach.cli", "coach.detect",
                     "coach.sources", "coach.simulate"),
    "coach.detect": ("coach.coaching", "coach.outputs", "coach.cli", "coach.simulate"),
    "coach.coaching": ("coach.outputs", "coach.cli"),
    "coach.outputs": ("coach.cli",),
    "coach.types": ("coach.sources", "coach.signal", "coach.detect", "coach.coaching",
                    "coach.outputs", "coach.cli"),
}
# ... except: training learns from the gait simulator
ALLOWED = {("coach.detect.train", "coach.simulate.gait")}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    mod = module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{a.name}" for a in node.names)
    return found


def violations() -> list[str]:
    bad = []
    for path in sorted((ROOT / "coach").rglob("*.py")):
        mod = module_name(path)
        for layer, banned in FORBIDDEN.items():
            if mod != layer and not mod.startswith(layer + "."):
                continue
            for imp in sorted(imports_of(path)):
                if any(mod == m and (imp == a or imp.startswith(a + ".")) for m, a in ALLOWED):
                    continue
                if any(imp == b or imp.startswith(b + ".") for b in banned):
                    bad.append(f"{mod} imports {imp}")
    return bad


def test_layers_only_import_downstream():
    assert violations() == []


def test_the_walker_sees_lazy_and_relative_imports(tmp_path):
    assert "coach.cli.main" in imports_of(ROOT / "coach" / "__main__.py")
    assert any(i.startswith("coach.detect") for i in imports_of(ROOT / "coach" / "cli" / "analyze.py"))
