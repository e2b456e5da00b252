"""The house rules that keep the package readable, checked on the source (no import runs): a config node is read
only at the composition roots; below them every function and class takes typed settings."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mixed_r1"
# The composition roots: the only modules that read a config node (DictConfig) and turn it into settings.
ROOTS = {"mixed_r1/settings.py", "mixed_r1/recipe.py", "mixed_r1/filter.py", "mixed_r1/eval/runner.py"}
CONVERTER = "mixed_r1/typed.py"  # the roots' converter: any mapping in, frozen settings out (untyped by its job)
# Names a config node or settings value travels under; ``Any`` there means an untyped config reached the code.
CONFIG_NAMES = {"cfg", "config", "node", "settings", "model", "prompt", "data", "reward", "trainer", "deepspeed", "ds",
                "logger", "warmup", "algo", "eval", "evaluation", "filter", "mix", "run"}


def modules() -> list[tuple[str, ast.Module]]:
    return [(str(path.relative_to(ROOT)), ast.parse(path.read_text(), str(path)))
            for path in sorted(PACKAGE.rglob("*.py"))]


def annotation_text(node: ast.expr | None) -> str:
    return ast.unparse(node) if node is not None else ""


def untyped_config(name: str, annotation: ast.expr | None) -> bool:
    """A parameter or field that carries config untyped: a config-like name annotated ``Any``, or any
    ``DictConfig``/``ListConfig`` annotation."""
    text = annotation_text(annotation)
    if "DictConfig" in text or "ListConfig" in text:
        return True
    configish = name in CONFIG_NAMES or name.endswith(("_cfg", "_config", "_settings"))
    return configish and text in ("Any", "Any | None", "Optional[Any]", "object")


def violations(path: str, tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            for arg in args:
                if untyped_config(arg.arg, arg.annotation):
                    entry = path in ROOTS and "DictConfig" in annotation_text(arg.annotation)
                    if not entry:  # a root's entry function takes the composed config: that is its job
                        found.append(f"{path}:{node.lineno} {node.name}({arg.arg}: {annotation_text(arg.annotation)})")
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                        and untyped_config(item.target.id, item.annotation)):
                        found.append(f"{path}:{item.lineno} {node.name}.{item.target.id}: "
                                     f"{annotation_text(item.annotation)}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and path not in ROOTS:
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            if any(n.split(".")[0] in ("omegaconf", "hydra") for n in names):
                found.append(f"{path}:{node.lineno} imports {', '.join(names)} (only the composition roots read config)")
    return found


def test_no_config_node_reaches_below_the_composition_roots():
    found = [v for path, tree in modules() if path != CONVERTER for v in violations(path, tree)]
    assert not found, "untyped config below the composition roots:\n" + "\n".join(found)


@pytest.mark.parametrize("source, expected", [
    ("def f(cfg: Any) -> None: ...", 1),
    ("def f(model_cfg: Any, x: Any) -> None: ...", 1),  # x is not a config name
    ("def f(trainer: TrainerSettings) -> None: ...", 0),
    ("def f(node: DictConfig) -> None: ...", 1),
    ("class C:\n    settings: Any\n", 1),
    ("import omegaconf\n", 1),
    ("from hydra import compose\n", 1),
])
def test_the_rule_catches_what_it_names(source, expected):
    """The checker itself: it would have caught each of these (as found on the code before the settings were typed)."""
    assert len(violations("mixed_r1/models/example.py", ast.parse(source))) == expected
