"""An uploaded zip is read in memory and rejected, with the offending entry named, when it is unsafe."""

from __future__ import annotations

import os
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from bot.services.coursepack import load_package
from bot.services.coursepack.archive import PackageLimits
from tests.services.coursepack.package_files import (
    COURSE,
    LESSON,
    assert_reported,
    package_files,
    rejection,
    write_folder,
    write_zip_file,
)


def minimal_members(prefix: str = "") -> list[tuple[str, str | bytes]]:
    return [(prefix + path, content) for path, content in package_files().items()]


def test_a_zip_of_the_package_loads_from_memory_without_extracting(tmp_path: Path) -> None:
    archive = write_zip_file(tmp_path / "course.zip", minimal_members())
    package = load_package(archive)
    assert package.code == "PY101"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["course.zip"]


def test_a_zip_whose_files_sit_in_one_top_folder_loads_as_if_that_folder_were_the_root(tmp_path: Path) -> None:
    archive = write_zip_file(tmp_path / "course.zip", minimal_members("python-basics/"))
    assert load_package(archive).title == "Python Basics"


def test_a_member_escaping_the_package_with_dot_dot_is_rejected(tmp_path: Path) -> None:
    archive = write_zip_file(tmp_path / "course.zip", [*minimal_members(), ("01-basics/../../evil.md", "x")])
    assert_reported(rejection(archive), "01-basics/../../evil.md", None, "outside the package folder")


def test_a_member_with_an_absolute_path_is_rejected(tmp_path: Path) -> None:
    archive = write_zip_file(tmp_path / "course.zip", [*minimal_members(), ("/etc/cron.d/evil", "x")])
    assert_reported(rejection(archive), "/etc/cron.d/evil", None, "absolute path")


def test_a_member_with_a_windows_drive_path_is_rejected(tmp_path: Path) -> None:
    archive = write_zip_file(tmp_path / "course.zip", [*minimal_members(), ("C:\\Windows\\evil.md", "x")])
    assert_reported(rejection(archive), "C:/Windows/evil.md", None, "absolute path")


def test_a_symlink_member_is_rejected(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("01-basics/03-secrets.md")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = write_zip_file(tmp_path / "course.zip", [*minimal_members(), (link, "/etc/passwd")])
    assert_reported(rejection(archive), "01-basics/03-secrets.md", None, "symbolic link")


def test_a_zip_with_too_many_files_is_rejected(tmp_path: Path) -> None:
    padding = [(f"assets/{index}.txt", "") for index in range(2_001)]
    archive = write_zip_file(tmp_path / "course.zip", [*minimal_members(), *padding])
    assert_reported(rejection(archive), "course.zip", None, "the limit is 2000")


def test_a_member_bigger_than_the_per_file_cap_is_rejected(tmp_path: Path) -> None:
    limits = PackageLimits(max_file_bytes=1_000)
    archive = write_zip_file(tmp_path / "course.zip", [*minimal_members(), ("assets/big.bin", os.urandom(1_001))])
    assert_reported(rejection(archive, limits=limits), "assets/big.bin", None, "a file may be at most 1,000 bytes")


def test_a_zip_that_unpacks_beyond_the_total_cap_is_rejected(tmp_path: Path) -> None:
    limits = PackageLimits(max_total_bytes=20_000, max_file_bytes=10_000)
    blobs = [(f"assets/{index}.bin", os.urandom(8_000)) for index in range(3)]
    archive = write_zip_file(tmp_path / "course.zip", [*minimal_members(), *blobs])
    assert_reported(rejection(archive, limits=limits), "course.zip", None, "the limit is 20,000 bytes")


def test_a_compression_bomb_is_rejected_from_its_headers(tmp_path: Path) -> None:
    archive = write_zip_file(
        tmp_path / "course.zip", [*minimal_members(), ("assets/zeros.txt", bytes(2 * 1024 * 1024))]
    )
    assert_reported(rejection(archive), "assets/zeros.txt", None, "looks like a zip bomb")


def test_a_member_whose_header_understates_its_size_is_not_trusted(tmp_path: Path) -> None:
    archive = write_zip_file(tmp_path / "course.zip", [*minimal_members(), ("assets/notes.txt", b"n" * 5_000)])
    understate_size(archive, "assets/notes.txt", declared=10)
    assert_reported(rejection(archive), "assets/notes.txt", None, "cannot be unpacked")


def test_a_file_that_is_not_a_zip_is_rejected(tmp_path: Path) -> None:
    not_a_zip = tmp_path / "course.zip"
    not_a_zip.write_text("just text")
    assert_reported(rejection(not_a_zip), "course.zip", None, "neither a folder nor a .zip")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_symlink_inside_a_package_folder_is_rejected(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "package", package_files())
    (folder / "01-basics" / "03-passwords.md").symlink_to("/etc/passwd")
    assert_reported(rejection(folder), "01-basics/03-passwords.md", None, "symbolic link")


def test_problems_inside_a_zip_name_the_file_relative_to_the_package_root(tmp_path: Path) -> None:
    members = [(name, "title = \n" if name.endswith(COURSE) else content) for name, content in minimal_members("pkg/")]
    error = rejection(write_zip_file(tmp_path / "course.zip", members))
    assert_reported(error, COURSE, 1, "invalid TOML")
    assert all(not problem.file.startswith("pkg/") for problem in error.problems)
    assert LESSON not in {problem.file for problem in error.problems}


def understate_size(archive: Path, member: str, *, declared: int) -> None:
    """Rewrite the uncompressed size that both zip headers of `member` declare."""
    data = bytearray(archive.read_bytes())
    name = member.encode()
    local_header = data.find(b"PK\x03\x04")
    while local_header >= 0 and data[local_header + 30 : local_header + 30 + len(name)] != name:
        local_header = data.find(b"PK\x03\x04", local_header + 4)
    central_header = data.find(b"PK\x01\x02")
    while central_header >= 0 and data[central_header + 46 : central_header + 46 + len(name)] != name:
        central_header = data.find(b"PK\x01\x02", central_header + 4)
    assert local_header >= 0 and central_header >= 0
    struct.pack_into("<I", data, local_header + 22, declared)
    struct.pack_into("<I", data, central_header + 24, declared)
    archive.write_bytes(bytes(data))
