"""Acceptance 1: the wheel installs one import name, and a user's own modules never shadow it.

The slow tests build the sdist and, from it, the wheel (``python -m build --no-isolation``,
so no build needs the network: setuptools>=77 and ``build`` come with the ``dev`` extra),
install the wheel into a fresh virtualenv outside the checkout, and use it from a user
project folder that has its own ``models.py``, ``data.py``, ``data/__init__.py`` and
``optim.py``. They then run pytest from the unpacked sdist against that wheel, which shows
the sdist carries what its tests need (see ``MANIFEST.in``). ``.ci/run`` runs them.

The fresh virtualenv gets only the wheel (``--no-deps``); a ``.pth`` file then puts the
running interpreter's site-packages after its own, so NumPy, Matplotlib, pytest and the
rest are reused instead of downloaded and installed for each run (seconds instead of a
minute, and no network). A ``.pth`` line only adds a folder to ``sys.path``: the ``.pth``
files inside that folder, among them the editable install's import hook, are not run, so
the only ``minigrad`` the fresh interpreter can import is the wheel's (each test checks
the path). The ``.pth`` is written after the wheel is installed, so pip never sees the
running environment's ``minigrad``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_workbook_toy import TOY_CELLS, check_workbook_numbers, printed_numbers

ROOT = Path(__file__).resolve().parents[1]
MAPPED = ("data", "models", "optim")

# What a user's project may hold: every name our folders had before they moved under
# minigrad/, with content that must never be imported by minigrad (it says so if it is).
USER_FILES = {
    "models.py": "TwoLayerNet = 'the user model'\ntwo_layer_net = None\n",
    "data.py": "CifarFormatError = None\nSHADOW = 'data.py'\n",
    "data/__init__.py": "CifarFormatError = None\nSHADOW = 'data/__init__.py'\n",
    "optim.py": "SGD = None\nExponentialDecay = None\n",
}
USER_MARKER = "USER MODULE IMPORTED: "


def _run(
    command: list[str], cwd: Path, *, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(MPLBACKEND="Agg", PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check:
        assert done.returncode == 0, (
            f"{' '.join(map(str, command))} (in {cwd}) exited {done.returncode}\n"
            f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
        )
    return done


def _source_version() -> str:
    text = (ROOT / "minigrad" / "version.py").read_text(encoding="utf-8")
    match = re.search(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", text, re.M)
    assert match, "minigrad/version.py has no __version__ = '...'"
    return match.group(1)


# --- Python run from a checkout's root -----------------------------------------------------


CHECKOUT_IMPORTS = textwrap.dedent(
    """
    import minigrad, minigrad.models, minigrad.optim, minigrad.data
    from minigrad.models import TwoLayerNet
    for module in (minigrad, minigrad.models, minigrad.optim, minigrad.data):
        print(module.__name__, module.__file__)
    """
)


def _imported_files(stdout: str) -> dict[str, Path]:
    return {name: Path(path) for name, path in (line.split(" ", 1) for line in stdout.splitlines())}


def test_checkout_root_imports_the_mapped_folders() -> None:
    """From the root, ``./minigrad`` shadows any installed copy; the checkout finder then
    serves ``minigrad.models`` etc. from the folders beside it (editable install in CI, the
    wheel when this file runs from an unpacked sdist)."""
    done = _run([sys.executable, "-c", CHECKOUT_IMPORTS], cwd=ROOT)
    files = _imported_files(done.stdout)
    assert files["minigrad"] == ROOT / "minigrad" / "__init__.py"
    for name in MAPPED:
        assert files[f"minigrad.{name}"] == ROOT / name / "__init__.py"
    help_text = _run([sys.executable, "-m", "minigrad", "train", "--help"], cwd=ROOT).stdout
    assert "usage: minigrad train" in help_text


# --- Build, install, use -------------------------------------------------------------------

IGNORED = shutil.ignore_patterns(
    ".git", ".ci-venv", "venv", ".venv", "build", "dist", "*.egg-info", "__pycache__",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", "runs", "*.pyc",
)


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Installed:
    python: Path
    bin: Path
    site: Path
    wheel: Path


def _require_build_tools() -> None:
    missing = [name for name in ("build", "setuptools") if importlib.util.find_spec(name) is None]
    if not missing:
        import setuptools

        if int(setuptools.__version__.split(".")[0]) >= 77:
            return
        missing = [f"setuptools>=77 (have {setuptools.__version__})"]
    message = f"building needs {', '.join(missing)}: pip install -e '.[dev]'"
    if os.environ.get("CI"):
        pytest.fail(message)  # CI installs the dev extra: a skip there would hide the test
    pytest.skip(message)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """sdist and wheel, the wheel built from the sdist as ``python -m build`` does.

    A copy of the source is built, so nothing is written into the checkout and no stale
    ``build/`` folder can leak old files into the wheel."""
    _require_build_tools()
    work = tmp_path_factory.mktemp("build")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    out = work / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
         cwd=work)
    (sdist,) = out.glob("minigrad-*.tar.gz")
    (wheel,) = out.glob("minigrad-*.whl")
    return Built(sdist, wheel)


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    assert ROOT not in venv.parents  # outside the checkout
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     cwd=venv.parent).stdout.strip())
    assert not [p for p in site.iterdir() if p.name != "__pycache__"]  # empty before
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
          "--no-index", str(built.wheel)], cwd=venv.parent)
    # Reuse this interpreter's third-party packages (see the module docstring).
    reused = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site / "zz_reuse_test_environment.pth").write_text("\n".join(reused) + "\n")
    return Installed(python, bin_dir, site, built.wheel)


@pytest.fixture(scope="module")
def user_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("user_project")
    for name, content in USER_FILES.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"import sys\nprint({USER_MARKER + name!r}, file=sys.stderr)\n{content}")
    shutil.copy(TOY_CELLS, project / "toy_cells.py")  # the user's own notebook, exported
    return project


def _top_level_names(paths: list[str]) -> set[str]:
    names = set()
    for path in paths:
        first = path.split("/", 1)[0]
        if first.endswith((".dist-info", ".data")) or first in ("..", ""):
            continue
        names.add(first.removesuffix(".py"))
    return names


@pytest.mark.slow
def test_the_wheel_has_one_import_name(built: Built) -> None:
    version = _source_version()
    assert built.wheel.name.startswith(f"minigrad-{version}-")
    with zipfile.ZipFile(built.wheel) as wheel:
        names = wheel.namelist()
        dist_info = f"minigrad-{version}.dist-info"
        top_level = wheel.read(f"{dist_info}/top_level.txt").decode().split()
        metadata = wheel.read(f"{dist_info}/METADATA").decode()
    assert _top_level_names(names) == {"minigrad"}, sorted(_top_level_names(names))
    assert top_level == ["minigrad"]
    for name in MAPPED:
        assert f"minigrad/{name}/__init__.py" in names
    assert "minigrad/py.typed" in names
    # The version is written once (minigrad/version.py); SPDX licence with its file.
    assert re.search(rf"^Version: {re.escape(version)}$", metadata, re.M)
    assert re.search(r"^License-Expression: MIT$", metadata, re.M)
    assert re.search(r"^License-File: LICENSE$", metadata, re.M)
    assert f"{dist_info}/licenses/LICENSE" in names


@pytest.mark.slow
def test_the_installed_files_have_one_import_name(installed: Installed) -> None:
    entries = {p.name for p in installed.site.iterdir()} - {"zz_reuse_test_environment.pth",
                                                            "__pycache__"}
    (dist_info,) = [name for name in entries if name.endswith(".dist-info")]
    assert entries == {"minigrad", dist_info}
    record = (installed.site / dist_info / "RECORD").read_text().splitlines()
    assert _top_level_names([line.rsplit(",", 2)[0] for line in record]) == {"minigrad"}
    for name in MAPPED:
        assert (installed.site / "minigrad" / name / "__init__.py").is_file()


@pytest.mark.slow
def test_a_users_own_modules_do_not_shadow_minigrad(
    installed: Installed, user_project: Path
) -> None:
    code = CHECKOUT_IMPORTS + textwrap.dedent(
        """
        import models, data, optim  # the user's own, still theirs
        assert models.TwoLayerNet == 'the user model', models.__file__
        assert data.SHADOW == 'data/__init__.py' and optim.SGD is None
        """
    )
    done = _run([str(installed.python), "-c", code], cwd=user_project)
    files = _imported_files("\n".join(done.stdout.splitlines()[:4]))
    for name, path in files.items():
        assert installed.site in path.parents, (name, path)
    # The user imported their own three modules on purpose, and only those three times.
    assert sorted(re.findall(USER_MARKER + r"(\S+)", done.stderr)) == [
        "data/__init__.py", "models.py", "optim.py"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("command", [["-m", "minigrad", "train", "--help"],
                                     ["-m", "minigrad", "--help"]])
def test_the_command_runs_in_a_users_project(
    installed: Installed, user_project: Path, command: list[str]
) -> None:
    done = _run([str(installed.python), *command], cwd=user_project)
    assert done.stdout.startswith("usage: minigrad"), done.stdout
    assert USER_MARKER not in done.stderr, done.stderr


@pytest.mark.slow
def test_the_console_script_runs_in_a_users_project(
    installed: Installed, user_project: Path
) -> None:
    done = _run([str(installed.bin / "minigrad"), "train", "--help"], cwd=user_project)
    assert "usage: minigrad train" in done.stdout
    assert USER_MARKER not in done.stderr, done.stderr


@pytest.mark.slow
def test_the_workbook_toy_cells_in_a_users_project(
    installed: Installed, user_project: Path
) -> None:
    probe = "import minigrad.models; print(minigrad.models.__file__)"
    where = Path(_run([str(installed.python), "-c", probe], cwd=user_project).stdout.strip())
    assert installed.site in where.parents
    done = _run([str(installed.python), "toy_cells.py"], cwd=user_project)
    assert USER_MARKER not in done.stderr, done.stderr
    check_workbook_numbers(printed_numbers(done.stdout))


# --- The sdist -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unpacked_sdist(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdist")
    with tarfile.open(built.sdist) as archive:
        archive.extractall(out, filter="data")
    (root,) = out.iterdir()
    return root


# pytest runs in the user's project (cwd first on sys.path, with its shadowing modules),
# rootdir the unpacked sdist; the wrapper checks the minigrad under test is the wheel's.
PYTEST_AGAINST_THE_WHEEL = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import minigrad, pytest
    site = Path(sys.argv[1])
    assert site in Path(minigrad.__file__).parents, minigrad.__file__
    sys.exit(pytest.main(sys.argv[2:]))
    """
)
SDIST_TESTS = (
    "test_workbook_toy.py",
    "test_import_graph.py",
    "test_packaging.py::test_checkout_root_imports_the_mapped_folders",
    "test_example.py",
    "test_cli.py",
)


def _pytest_in_sdist(installed: Installed, project: Path, sdist: Path, *args: str) -> str:
    done = _run(
        [str(installed.python), "-c", PYTEST_AGAINST_THE_WHEEL, str(installed.site),
         "-p", "no:cacheprovider", "--rootdir", str(sdist), *args],
        cwd=project,
    )
    return done.stdout


@pytest.mark.slow
def test_the_sdist_has_what_its_tests_need(
    installed: Installed, user_project: Path, unpacked_sdist: Path
) -> None:
    for needed in ("tests/conftest.py", "tests/workbook/toy_cells.py", "MANIFEST.in",
                   "LICENSE", "README.md", "benchmarks/__init__.py", "examples/two_layer_net.py",
                   *(f"{name}/__init__.py" for name in MAPPED)):
        assert (unpacked_sdist / needed).is_file(), needed
    # Every test module is in the sdist and collects.
    ours = sorted(p.name for p in (ROOT / "tests").glob("test_*.py"))
    theirs = sorted(p.name for p in (unpacked_sdist / "tests").glob("test_*.py"))
    assert theirs == ours
    collected = _pytest_in_sdist(installed, user_project, unpacked_sdist, "--collect-only", "-q",
                                 str(unpacked_sdist / "tests"))
    count = re.search(r"^(\d+) tests? collected", collected, re.M)
    assert count and int(count.group(1)) > 100, collected[-2000:]
    # A few real tests, the packaging test's own fast check among them.
    tests = [str(unpacked_sdist / "tests" / name) for name in SDIST_TESTS]
    ran = _pytest_in_sdist(installed, user_project, unpacked_sdist, "-q", "-m", "not slow",
                           *tests)
    assert re.search(r"^\d+ passed", ran.splitlines()[-1]), ran[-2000:]
