"""The directions of import are the architecture: the scoring core and the sync plan take
values and return values, with no I/O, no clock, no logging and no CRM."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CORE = ("mqlsync.connector.adapters", "mqlsync.connector.state", "mqlsync.connector.yamlsource",
                     "mqlsync.connector.config.load", "mqlsync.jobs", "yaml", "sqlalchemy", "hubspot",
                     "simple_salesforce", "requests", "urllib3",
                     "typer", "rich", "logging", "time", "os", "pathlib", "random", "tenacity", "apscheduler")
CLOCK_AND_IO = ("datetime.now", "datetime.utcnow", "date.today", "open(", "print(")


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                package = ["mqlsync", *path.relative_to(ROOT).with_suffix("").parts[:-1]]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            found.add(base)
    return found


def core_files():
    # the scoring core, the sync's decisions and the funnel review beside it
    return sorted([*(ROOT / "connector" / "scoring").glob("*.py"), *(ROOT / "connector" / "sync").glob("*.py"),
                   *(ROOT / "connector" / "review").glob("*.py")])


def test_scoring_core_imports_no_io_sdk_or_wiring():
    for path in core_files():
        for name in imports_of(path):
            bad = [f for f in FORBIDDEN_IN_CORE if name == f or name.startswith(f + ".")]
            assert not bad, f"{path.relative_to(ROOT)} imports {name}"


def test_scoring_core_reads_no_clock_and_does_no_io():
    for path in core_files():
        text = path.read_text(encoding="utf-8")
        for call in CLOCK_AND_IO:
            assert call not in text, f"{path.relative_to(ROOT)} uses {call}"


def test_the_canonical_model_imports_nothing_from_the_outside():
    assert imports_of(ROOT / "connector" / "model.py") <= {"__future__", "dataclasses", "datetime", "enum",
                                                           "typing", "pydantic"}


def test_every_import_of_our_own_code_goes_through_the_mqlsync_namespace():
    # The folders connector/ and jobs/ are installed as mqlsync.connector and mqlsync.jobs;
    # a bare `import connector` works only in a checkout and would load a second copy.
    bare = [f"{path.relative_to(ROOT)} imports {name}"
            for folder in ("connector", "jobs", "tests")
            for path in sorted((ROOT / folder).rglob("*.py"))
            for name in imports_of(path)
            if name.split(".")[0] in {"connector", "jobs", "mappings"}]
    assert bare == []


def crm_names() -> set[str]:
    return {p.name for p in (ROOT / "connector" / "crms").iterdir() if (p / "__init__.py").exists()}


def test_outside_its_folder_no_code_names_a_crm():
    # The rest of mqlsync knows a CRM only through connector/registry.py (CrmKind and
    # the entry points): no branch on a CRM's name, no import of a CRM's modules.
    names = crm_names()
    assert names >= {"hubspot", "salesforce"}
    found = []
    for folder in ("connector", "jobs"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if rel.parts[:2] == ("connector", "crms") and len(rel.parts) > 3:
                continue  # inside a CRM's own folder
            for name in imports_of(path):
                if any(name.startswith(f"mqlsync.connector.crms.{crm}") for crm in names):
                    found.append(f"{rel} imports {name}")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Compare):
                    for side in [node.left, *node.comparators]:
                        if isinstance(side, ast.Constant) and side.value in names:
                            found.append(f"{rel}:{node.lineno} compares with {side.value!r}")
    assert found == []


def test_every_package_folder_is_in_the_wheel():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    for folder in ("connector", "jobs"):
        for init in (ROOT / folder).rglob("__init__.py"):
            package = "mqlsync." + ".".join(init.parent.relative_to(ROOT).parts)
            assert package in listed, f"{package} is missing from [tool.setuptools] packages"
