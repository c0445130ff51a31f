"""An uploaded zip is read from memory, and problems with the upload itself name the file as uploaded."""

from __future__ import annotations

import io
import zipfile

import pytest

from bot.services.coursepack import PackageInvalid, load_zip_bytes
from bot.services.coursepack.archive import PackageLimits
from tests.services.coursepack.package_files import package_files


def zipped(files: dict[str, str | bytes], *, top: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, content in files.items():
            archive.writestr(top + path, content)
    return buffer.getvalue()


def test_a_zip_in_memory_loads_like_a_zip_file() -> None:
    package = load_zip_bytes("python-basics.zip", zipped(package_files(), top="python-basics/"))
    assert [item.slug for item in package.modules[0].items] == ["variables", "check"]


def test_an_upload_that_is_not_a_zip_is_named_in_the_problem() -> None:
    with pytest.raises(PackageInvalid) as refused:
        load_zip_bytes("course.toml", b'code = "PY101"\n')
    assert str(refused.value.problems[0]).startswith("course.toml: is not a .zip file")


def test_an_upload_over_the_size_limit_is_refused_before_it_is_opened() -> None:
    with pytest.raises(PackageInvalid) as refused:
        load_zip_bytes("big.zip", b"PK" + b"\0" * 2_000, limits=PackageLimits(max_total_bytes=1_000))
    assert "big.zip" in str(refused.value)


def test_a_module_numbered_with_thousands_of_digits_is_ordered_without_crashing() -> None:
    files = {path.replace("01-basics/", f"{'0' * 5_000}1-basics/"): text for path, text in package_files().items()}
    package = load_zip_bytes("long.zip", zipped(files))
    assert [module.slug for module in package.modules] == ["basics"]
