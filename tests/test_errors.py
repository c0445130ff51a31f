"""Every domain error is listed in `bot/errors.py`, the one place a reader looks for them."""

from __future__ import annotations

import importlib
import pkgutil
import re

import bot
import bot.errors
import cogs
from bot.errors import CourseError


def every_subclass(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | every_subclass(sub)
    return found


def test_every_course_error_is_listed_with_its_module() -> None:
    for package in (bot, cogs):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)
    listing = bot.errors.__doc__ or ""
    listed = set(re.findall(r"\b[A-Z][A-Za-z]+\b", listing))
    unlisted = sorted(
        f"{error.__module__}.{error.__name__}"
        for error in every_subclass(CourseError)
        if error.__module__.startswith(("bot.", "cogs.")) and error.__name__ not in listed
    )
    assert unlisted == [], f"add these to the list in bot/errors.py: {unlisted}"
    for module_name, names in re.findall(r"- `([\w.]+)`: ([^\n]+(?:\n  [^\n]+)*)", listing):
        module = importlib.import_module(module_name)
        for name in re.findall(r"\b[A-Z][A-Za-z]+\b", names.split("(")[0]):
            assert issubclass(getattr(module, name), CourseError), f"{module_name}.{name} is not a CourseError"
