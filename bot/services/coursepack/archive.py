"""Reading a package's files into memory, from a folder or a `.zip`, without trusting either.

A zip comes from an upload, so it is never extracted to disk: members are read into memory with the
file count, each member's size, the total size and the compression ratio capped, both from the zip's
headers and again while decompressing (headers can lie).
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from bot.services.coursepack.problems import PackageInvalid, Problem

PackageFiles = dict[str, bytes]
"""File contents by path relative to the package root, with `/` separators."""

_CHUNK_BYTES = 64 * 1024
_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class PackageLimits:
    """Caps on what a package may contain; the defaults suit an upload through Discord."""

    max_files: int = 2_000
    max_total_bytes: int = 50 * _MIB
    max_file_bytes: int = 10 * _MIB
    max_compression_ratio: int = 100
    """Applies to members above `ratio_floor_bytes`: tiny files of repeated text compress legitimately well."""
    ratio_floor_bytes: int = _MIB


DEFAULT_LIMITS = PackageLimits()


def read_package_files(path: Path, limits: PackageLimits) -> PackageFiles:
    """All files of the package at `path` (a folder or a `.zip`), hidden files and `__MACOSX/` left out.

    A zip whose files all sit in one top folder is read as if that folder were the root.
    Raises `PackageInvalid` listing every unsafe or unreadable entry.
    """
    if path.is_dir():
        return _read_folder(path, limits)
    if path.is_file() and zipfile.is_zipfile(path):
        return _strip_common_top_folder(_read_zip(path, path.name, limits))
    raise PackageInvalid([Problem(path.name, None, "is neither a folder nor a .zip file")])


def read_zip_bytes(zip_name: str, data: bytes, limits: PackageLimits) -> PackageFiles:
    """All files of the package in the zip `data` (an upload called `zip_name`), as `read_package_files`
    reads a zip file; nothing touches the disk."""
    if len(data) > limits.max_total_bytes:
        raise PackageInvalid(
            [Problem(zip_name, None, f"is {size_text(len(data))}; the limit is {size_text(limits.max_total_bytes)}")]
        )
    source = io.BytesIO(data)
    if not zipfile.is_zipfile(source):
        raise PackageInvalid([Problem(zip_name, None, "is not a .zip file: zip the course folder and upload that")])
    return _strip_common_top_folder(_read_zip(source, zip_name, limits))


def _is_ignored(relative_path: str) -> bool:
    parts = relative_path.split("/")
    return parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts)


def _read_folder(root: Path, limits: PackageLimits) -> PackageFiles:
    files: PackageFiles = {}
    problems: list[Problem] = []
    total_bytes = 0
    for entry in sorted(root.rglob("*")):
        relative = entry.relative_to(root).as_posix()
        if _is_ignored(relative):
            continue
        if entry.is_symlink():
            problems.append(Problem(relative, None, "is a symbolic link; copy the file in instead"))
            continue
        if not entry.is_file():
            continue
        if len(files) == limits.max_files:
            problems.append(Problem(root.name, None, f"has more than {limits.max_files} files"))
            break
        size = entry.stat().st_size
        if size > limits.max_file_bytes:
            message = f"is {size_text(size)}; a file may be at most {size_text(limits.max_file_bytes)}"
            problems.append(Problem(relative, None, message))
            continue
        total_bytes += size
        if total_bytes > limits.max_total_bytes:
            problems.append(Problem(root.name, None, f"holds more than {size_text(limits.max_total_bytes)} of files"))
            break
        files[relative] = entry.read_bytes()
    if problems:
        raise PackageInvalid(problems)
    return files


def _read_zip(source: Path | IO[bytes], zip_name: str, limits: PackageLimits) -> PackageFiles:
    try:
        with zipfile.ZipFile(source) as archive:
            members = _safe_members(archive, zip_name, limits)
            return _read_members(archive, members, limits)
    except zipfile.BadZipFile as error:
        raise PackageInvalid([Problem(zip_name, None, f"is not a readable zip file ({error})")]) from error


def _safe_members(archive: zipfile.ZipFile, zip_name: str, limits: PackageLimits) -> list[tuple[str, zipfile.ZipInfo]]:
    """The file members to read, each with its normalised path; raises if any member is unsafe."""
    infos = archive.infolist()
    if len(infos) > limits.max_files:
        raise PackageInvalid([Problem(zip_name, None, f"has {len(infos)} entries; the limit is {limits.max_files}")])
    problems: list[Problem] = []
    members: list[tuple[str, zipfile.ZipInfo]] = []
    seen: set[str] = set()
    declared_total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        unsafe_because = _unsafe_name_reason(name) or _unsafe_entry_reason(info, limits)
        if unsafe_because:
            problems.append(Problem(name, None, unsafe_because))
            continue
        relative = str(PurePosixPath(name))
        if info.is_dir() or _is_ignored(relative):
            continue
        if relative in seen:
            problems.append(Problem(relative, None, "appears twice in the zip"))
            continue
        seen.add(relative)
        declared_total += info.file_size
        members.append((relative, info))
    if declared_total > limits.max_total_bytes:
        problems.append(
            Problem(
                zip_name,
                None,
                f"unpacks to {size_text(declared_total)}; the limit is {size_text(limits.max_total_bytes)}",
            )
        )
    if problems:
        raise PackageInvalid(problems)
    return members


def _unsafe_name_reason(name: str) -> str | None:
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path; entries must be relative to the package folder"
    if ".." in name.split("/"):
        return "uses `..` to point outside the package folder"
    return None


def _unsafe_entry_reason(info: zipfile.ZipInfo, limits: PackageLimits) -> str | None:
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link; zip the file itself instead"
    if info.flag_bits & 0x1:
        return "is encrypted; upload a zip without a password"
    if info.file_size > limits.max_file_bytes:
        return f"unpacks to {size_text(info.file_size)}; a file may be at most {size_text(limits.max_file_bytes)}"
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_compression_ratio:
        limit = limits.max_compression_ratio
        return f"is compressed {ratio:.0f} to 1, which looks like a zip bomb (the limit is {limit} to 1)"
    return None


def _read_members(
    archive: zipfile.ZipFile, members: list[tuple[str, zipfile.ZipInfo]], limits: PackageLimits
) -> PackageFiles:
    files: PackageFiles = {}
    problems: list[Problem] = []
    total_bytes = 0
    for relative, info in members:
        # Never read more than the headers promised (or the caps allow), whatever the stream holds.
        budget = min(info.file_size, limits.max_file_bytes, limits.max_total_bytes - total_bytes)
        chunks: list[bytes] = []
        size = 0
        try:
            with archive.open(info) as member:
                while chunk := member.read(min(_CHUNK_BYTES, budget + 1 - size)):
                    size += len(chunk)
                    if size > budget:
                        break
                    chunks.append(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as error:
            problems.append(Problem(relative, None, f"cannot be unpacked: the zip entry is damaged ({error})"))
            continue
        if size > budget:
            problems.append(Problem(relative, None, "unpacks to more data than its zip header declares"))
            continue
        total_bytes += size
        files[relative] = b"".join(chunks)
    if problems:
        raise PackageInvalid(problems)
    return files


def _strip_common_top_folder(files: PackageFiles) -> PackageFiles:
    """Zipping a folder usually puts everything under `folder/`; treat that folder as the root."""
    if "course.toml" in files or not files:
        return files
    top_folders = {path.split("/", 1)[0] for path in files}
    if len(top_folders) != 1 or any("/" not in path for path in files):
        return files
    return {path.split("/", 1)[1]: content for path, content in files.items()}


def size_text(size: int) -> str:
    """A size as people read it: MiB (the unit of the limits) from 1 MiB up, else bytes."""
    return f"{size / _MIB:.1f} MiB" if size >= _MIB else f"{size:,} bytes"
