"""Every module of the core imports on its own, whichever is imported first: an import cycle that works only in
one order breaks a tool, a script or a test that happens to start from the other end."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import bot

# In a fresh interpreter: import each module with every other module of `bot` forgotten first (the database
# models stay loaded: declaring them twice is an error of its own).
CHECK_EACH = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "bot" or m.startswith("bot.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=1).strip().splitlines()[-1])
print("\\n".join(failed))
"""


def test_every_core_module_imports_on_its_own() -> None:
    names = [module.name for module in pkgutil.walk_packages(bot.__path__, prefix="bot.")]
    checked = subprocess.run(
        [sys.executable, "-c", CHECK_EACH, *names], capture_output=True, text=True, timeout=120, check=True
    )
    assert checked.stdout.strip() == "", checked.stdout
