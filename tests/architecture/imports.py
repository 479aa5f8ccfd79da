"""The project's own import graph, read from the source with ast (no import is executed)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "contactdesk"


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted module name (or package) of contactdesk
    path: Path
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted((SRC / PACKAGE).rglob("*.py"))


def imports_of(path: Path, source: str | None = None) -> list[Import]:
    """Every import of a contactdesk module in one file, resolved to absolute names."""
    tree = ast.parse(source if source is not None else path.read_text(), filename=str(path))
    importer = module_name(path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # "from contactdesk.x import y": y may be a module (contactdesk.x.y) or a name.
            names = [base]
            names += [f"{base}.{alias.name}" for alias in node.names if _is_module(base, alias)]
        else:
            continue
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                found.append(Import(importer, name, path, node.lineno))
    return found


def _is_module(base: str, alias: ast.alias) -> bool:
    target = SRC.joinpath(*base.split("."), alias.name)
    return target.with_suffix(".py").exists() or (target / "__init__.py").exists()


def all_imports() -> list[Import]:
    return [imp for path in source_files() for imp in imports_of(path)]
