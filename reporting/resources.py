"""Where the packaged templates and default config are, installed or in a source tree."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE_DIR / "_bundled"  # filled by the wheel build (pyproject's force-include)
_SOURCE_ROOT = _PACKAGE_DIR.parent  # a source checkout or an editable install


def _resource_dir(name: str) -> Path:
    for candidate in (_BUNDLED / name, _SOURCE_ROOT / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"liqrisk's {name}/ directory is missing from the installation")


def templates_dir() -> Path:
    return _resource_dir("templates")


def config_dir() -> Path:
    return _resource_dir("config")


def default_config_file() -> Path:
    return config_dir() / "liqrisk.toml"


DEMO_DATA_FILE = _PACKAGE_DIR / "fetch" / "sources" / "demo" / "kaiko_demo.json.gz"
