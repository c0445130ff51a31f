"""Validating course packages: `load_package` time and peak memory on generated packages from 1 MB up to the
50 MB upload limit, against a floor measured in the same run on the same files (reading them, decoding them
and parsing their TOML with `tomllib`: what no validation can skip).

Two kinds of package: `valid` (lessons, quizzes, a concept graph; it loads) and `hostile` (every TOML file
as large as allowed and full of unknown keys, a quiz of wrong answers per module, a concept graph of
cycles; it is rejected with 100 problems and a count). Times are the better of two rounds of floor then
validation in one child process, so both see the same machine; peak RSS is measured in a child of its
own that only validates, as growth over that child at rest (interpreter and imports). Linear scaling
shows as a flat `validation_per_mb` and `peak_rss_per_mb` across sizes. No database: `--backend` is ignored.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from bench._harness import Figure
from bot.services.coursepack import DEFAULT_LIMITS, PackageInvalid, load_package
from bot.services.coursepack.model import MAX_CONCEPTS, MAX_OPTIONS, MAX_QUESTIONS
from bot.services.coursepack.toml_source import MAX_TOML_CHARACTERS

MB = 1024 * 1024
SHARES_OF_THE_LIMIT = (0.02, 0.1, 0.25, 0.5, 1.0)
PARAGRAPH = (
    "A **variable** names a value; `x = 3` makes `x` refer to 3. Names are case-sensitive, and a good one "
    "says what the value means rather than what type it has.\n\n"
)


def valid_module(number: int) -> dict[str, str]:
    """About 1 MB: eight lessons of ~110 KB and a quiz of 200 questions."""
    folder = f"{number:03d}-module-{number}"
    files = {f"{folder}/module.toml": f'title = "Module {number}"\nsummary = "Part {number} of the course."\n'}
    for lesson in range(1, 9):
        front = (
            f'+++\ntitle = "Lesson {number}.{lesson}"\nobjectives = ["Read", "Practise"]\n'
            f'estimated_minutes = 15\nconcepts = ["c{number}"]\n+++\n\n'
        )
        files[f"{folder}/{lesson:02d}-lesson-{number}-{lesson}.md"] = front + f"# Lesson {lesson}\n\n" + PARAGRAPH * 600
    questions = "".join(
        f'[[questions]]\ntype = "MULTIPLE_CHOICE"\ntext = "In module {number}, what does line {q} print?"\n'
        f'options = ["3", "x", "an error", "nothing"]\nanswer = "3"\nexplanation = "x refers to 3."\n'
        f'concept = "c{number}"\npoints = 2\n\n'
        for q in range(200)
    )
    files[f"{folder}/09-check-{number}.quiz.toml"] = f'title = "Check {number}"\nmax_attempts = 3\n\n{questions}'
    return files


def hostile_module(number: int) -> dict[str, str]:
    """About 1.8 MB: a module.toml of unknown keys at the size limit, a quiz of 500 questions with 24 options
    and an answer that is none of them, and a lesson whose front matter is all unknown keys."""
    folder = f"{number:03d}-module-{number}"
    keys, size, key = [], 0, 0
    while size < MAX_TOML_CHARACTERS - 64:
        line = f"unknown_{key} = {key}\n"
        keys.append(line)
        size, key = size + len(line), key + 1
    options = ", ".join(f'"option {letter}"' for letter in range(MAX_OPTIONS))
    questions = "".join(
        f'[[questions]]\ntype = "MULTIPLE_CHOICE"\ntext = "Question {q}?"\noptions = [{options}]\nanswer = "none"\n\n'
        for q in range(MAX_QUESTIONS)
    )
    front_matter = "".join(f"typo_{key} = 1\n" for key in range(20_000))
    return {
        f"{folder}/module.toml": 'title = "Hostile"\n' + "".join(keys),
        f"{folder}/01-check-{number}.quiz.toml": f'title = "Check"\n\n{questions}',
        f"{folder}/02-lesson-{number}.md": f'+++\ntitle = "Lesson"\n{front_matter}+++\n\nText.\n',
    }


def concepts_toml(count: int, *, cyclic: bool) -> str:
    """`count` concepts, each depending on the ten before it; with `cyclic` the first depends on the last,
    which ties them all into one tangle of cycles."""
    entries = []
    for number in range(count):
        earlier = [f"c{other}" for other in range(max(0, number - 10), number)]
        if cyclic and number == 0:
            earlier = [f"c{count - 1}"]
        listed = ", ".join(f'{{ concept = "{slug}" }}' for slug in earlier)
        entries.append(f'[[concepts]]\nslug = "c{number}"\nname = "Concept {number}"\ndepends_on = [{listed}]\n')
    return "\n".join(entries)


def write_package(folder: Path, kind: str, target_bytes: int) -> int:
    """A generated package of about `target_bytes` (never over the upload limit) in `folder`; its size.
    Written module by module, so this process stays small."""
    module_of = valid_module if kind == "valid" else hostile_module
    total = write_files(
        folder, {"course.toml": 'code = "BENCH"\ntitle = "Generated"\n\n[[cohorts]]\nterm_name = "Open"\n'}
    )
    number = 1
    while True:
        module = module_of(number)
        if number > 1 and total + sum(len(text.encode()) for text in module.values()) > target_bytes:
            break
        total += write_files(folder, module)
        number += 1
    total += write_files(folder, {"concepts.toml": concepts_toml(min(number, MAX_CONCEPTS), cyclic=kind == "hostile")})
    if total > DEFAULT_LIMITS.max_total_bytes:
        raise ValueError(f"generated {total} bytes, over the upload limit")
    return total


def write_files(folder: Path, files: dict[str, str]) -> int:
    written = 0
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        written += path.write_bytes(text.encode())
    return written


def read_floor(folder: Path) -> None:
    """What any validation must do: read and decode every file, and parse all its TOML."""
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8")
        if path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".md":
            tomllib.loads(text.split("+++\n", 2)[1])


def validate(folder: Path) -> None:
    try:
        load_package(folder)
    except PackageInvalid as invalid:
        assert len(invalid.problems) <= 100, len(invalid.problems)


def measure_in_child(task: str, folder: Path) -> dict[str, float]:
    """What `child` reports for `task` on the package in `folder`, run in a fresh interpreter."""
    output = subprocess.run(
        [sys.executable, "-m", "bench.packages", task, str(folder)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def child(task: str, folder: Path) -> None:
    """`times`: the best of two rounds of floor then validation; `rss`: peak RSS growth of one validation."""
    if task == "times":
        floor, validation = [], []
        for _ in range(2):
            floor.append(timed(read_floor, folder))
            validation.append(timed(validate, folder))
        print(json.dumps({"floor": min(floor), "validation": min(validation)}))
    else:
        at_rest = peak_rss_kib()
        validate(folder)
        print(json.dumps({"rss_mb": (peak_rss_kib() - at_rest) / 1024}))


def peak_rss_kib() -> int:
    """This process's peak RSS. Not `ru_maxrss`: that keeps the peak of the parent it was forked from."""
    status = Path("/proc/self/status")
    if status.exists():
        return next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def timed(task: Callable[[Path], None], folder: Path) -> float:
    started = time.perf_counter()
    task(folder)
    return time.perf_counter() - started


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    limit = DEFAULT_LIMITS.max_total_bytes
    for kind in ("valid", "hostile"):
        per_mb: list[float] = []
        labels: set[str] = set()
        for share in SHARES_OF_THE_LIMIT:
            with tempfile.TemporaryDirectory(prefix="coursebot-bench-package-") as scratch:
                folder = Path(scratch) / "package"
                size_mb = write_package(folder, kind, int(limit * share * scale)) / MB
                label = f"{size_mb:.1f}mb"
                if label in labels:
                    continue  # a small --scale rounds two shares to the same whole number of modules
                labels.add(label)
                times = measure_in_child("times", folder)
                rss_mb = measure_in_child("rss", folder)["rss_mb"]
            per_mb.append(times["validation"] / size_mb)
            yield Figure("packages", "none", f"{kind}_validation_{label}", round(times["validation"], 3), "s")
            yield Figure("packages", "none", f"{kind}_floor_{label}", round(times["floor"], 3), "s")
            ratio = times["validation"] / times["floor"]
            yield Figure("packages", "none", f"{kind}_validation_over_floor_{label}", round(ratio, 2), "x")
            yield Figure("packages", "none", f"{kind}_validation_per_mb_{label}", round(per_mb[-1], 3), "s/MB")
            yield Figure("packages", "none", f"{kind}_peak_rss_{label}", round(rss_mb, 1), "MB")
            yield Figure("packages", "none", f"{kind}_peak_rss_per_mb_{label}", round(rss_mb / size_mb, 2), "MB/MB")
        # 1.0 when time grows exactly with size; a quadratic step would show as the size ratio (50x).
        yield Figure("packages", "none", f"{kind}_per_mb_largest_over_smallest", round(per_mb[-1] / per_mb[0], 2), "x")


if __name__ == "__main__":
    child(sys.argv[1], Path(sys.argv[2]))
