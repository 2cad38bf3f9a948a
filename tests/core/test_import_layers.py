"""The import rules of DESIGN §2, checked on the source (an AST walk of every module under
`apps/`, migrations aside): no import circle between modules of different apps, and
`apps/chain` and `apps/core` import no app (core may use chain, the Solana layer). Every
import counts, those inside functions and `if TYPE_CHECKING:` blocks too: an import placed in
a function to dodge a circle is still a circle."""

import ast
from pathlib import Path

from django.conf import settings

# Packages that are not apps: what core may import besides itself.
LIBRARIES = {"chain"}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, package: str = "apps") -> dict[str, set[str]]:
    """{module: the modules of `package` it imports} for every module under root/package."""
    paths = [p for p in (root / package).rglob("*.py") if "migrations" not in p.parts]
    modules = {module_name(root, path): path for path in paths}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    # `from apps.x import y`: y is a module of its own when there is one.
                    child = f"{node.module}.{alias.name}"
                    imported.add(child if child in modules else node.module)
        graph[name] = {target for target in imported if target in modules}
    return graph


def app_of(module: str) -> str:
    """`apps.<app>...` → the app (`apps` itself, the bare package, is its own)."""
    return module.split(".")[1] if "." in module else module


def circles_between_apps(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components (Tarjan) that hold modules of more than one app."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len({app_of(member) for member in component}) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def foundation_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports of an app from `apps/chain` or `apps/core` (chain imports nothing but itself)."""
    allowed = {"chain": {"chain"}, "core": {"core", *LIBRARIES}}
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if app_of(module) in allowed
        for target in targets
        if app_of(target) not in allowed[app_of(module)]
    )


def test_no_import_circle_between_apps():
    assert circles_between_apps(import_graph(settings.BASE_DIR)) == []


def test_chain_and_core_import_no_app():
    assert foundation_imports(import_graph(settings.BASE_DIR)) == []


def write(root: Path, module: str, source: str) -> None:
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in path.relative_to(root).parents:
        (root / parent / "__init__.py").touch()
    path.write_text(source)


def test_it_finds_a_circle_through_a_function_level_import(tmp_path):
    write(tmp_path, "apps.shop.services", "from apps.ledger.writes import post\n")
    write(tmp_path, "apps.ledger.writes", "def post():\n    from apps.shop import services\n")
    write(tmp_path, "apps.ledger.reads", "from apps.ledger import writes\n")
    write(tmp_path, "apps.shop.models", "import apps.ledger.reads\n")  # one way: no circle

    assert circles_between_apps(import_graph(tmp_path)) == [
        ["apps.ledger.writes", "apps.shop.services"]
    ]


def test_it_allows_a_circle_inside_one_app(tmp_path):
    write(tmp_path, "apps.shop.a", "from apps.shop import b\n")
    write(tmp_path, "apps.shop.b", "from apps.shop.a import thing\n")

    assert circles_between_apps(import_graph(tmp_path)) == []


def test_it_finds_core_or_chain_importing_an_app(tmp_path):
    write(tmp_path, "apps.core.views", "def page():\n    from apps.shop.models import Item\n")
    write(tmp_path, "apps.core.chain", "from apps.chain.rpc import call\n")  # allowed
    write(tmp_path, "apps.chain.rpc", "from apps.core import views\n")
    write(tmp_path, "apps.shop.models", "from apps.core.chain import call\n")

    assert foundation_imports(import_graph(tmp_path)) == [
        "apps.chain.rpc -> apps.core.views",
        "apps.core.views -> apps.shop.models",
    ]
