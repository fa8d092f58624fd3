"""Files that are never seen half-written, their hashes, strict JSON, and mapping files
(YAML or JSON) read with an error that names the file and the field.

Every writer of the project goes through here: a reader (a person, a second process, the
next run) sees the old complete file or directory or the new one, never a mix, and a
`kill -9` leaves at most a hidden temporary sibling that the next writer removes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

TMP_MARK = ".lowbase-tmp-"  # hidden sibling being written: `.NAME.lowbase-tmp-PID-TOKEN`
OLD_MARK = ".lowbase-old-"  # the replaced directory, between two renames


class OutputExistsError(FileExistsError):
    """The output exists and is not empty, and overwriting was not asked for (exit 2)."""


# ---------------------------------------------------------------- atomic files


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a small file via a hidden temporary sibling and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def check_target(
    out: Path,
    overwrite: bool,
    foreign: Callable[[Path], list[str]] | None = None,
    flag: str = "--out",
    owned: str = "a directory this tool wrote",
) -> None:
    """Refuse a target that is a file, or a non-empty directory unless `overwrite`; and even
    with `overwrite`, a non-empty directory is replaced only when this tool wrote all of it
    (a dataset, a report): `foreign(out)` lists the entries it did not write (all of them
    when `out` holds none of its markers). A typo such as `--out ~ --overwrite` must never
    wipe a home directory or a checkout. The working directory, any directory above it and
    the home directory are never replaced."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{flag} {out}: exists and is not a directory")
    if not out.is_dir():
        blocked = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
        if blocked is not None:
            raise OutputExistsError(f"{flag} {out}: {blocked} is a file, so no directory can be made under it")
        return
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    if not overwrite:
        raise OutputExistsError(f"{flag} {out}: directory exists and is not empty (pass --overwrite to replace it)")
    real, cwd = out.resolve(), Path.cwd().resolve()
    if real == Path.home().resolve() or real == cwd or real in cwd.parents:
        raise OutputExistsError(
            f"{flag} {out}: is the home directory, the working directory or one above it; --overwrite never replaces it"
        )
    others = entries if foreign is None else sorted(foreign(real))
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise OutputExistsError(
            f"{flag} {out}: only an empty directory or {owned} is replaced, even with --overwrite; "
            f"this one also holds {shown}, which it did not write, so it is left alone"
        )


def unlisted_entries(path: Path, marker: str, listed: Callable[[dict], Iterable[str] | None]) -> list[str]:
    """The entries of the directory `path` that its marker file (a JSON card this tool
    wrote last, e.g. `dataset.json`) does not account for: `listed(card)` names the files the
    card vouches for, or None when the card does not check out. Every entry when the card is
    missing, unreadable or not vouching: a file of the user's own makes a directory theirs."""
    names = [p.name for p in Path(path).iterdir()]
    try:
        vouched = listed(json.loads((Path(path) / marker).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        vouched = None
    if vouched is None:
        return names
    vouched = {marker, *vouched}
    return [n for n in names if n not in vouched]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(out: Path) -> None:
    """Remove temporary siblings of `out` left by killed writers (their process is gone)."""
    out = Path(out)
    if not out.parent.exists():
        return
    for mark in (TMP_MARK, OLD_MARK):
        prefix = f".{out.name}{mark}"
        for p in out.parent.glob(f"{prefix}*"):
            try:
                pid = int(p.name[len(prefix) :].split("-")[0])
            except ValueError:
                continue
            if not pid_alive(pid):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)


_SCRATCH = re.compile(r"^(\d+)-[0-9a-f]{8}$")  # a per-process scratch directory: `<pid>-<8 hex>`
_SIBLING = re.compile(r"^\..+(?:" + re.escape(TMP_MARK) + "|" + re.escape(OLD_MARK) + r")(\d+)-[0-9a-f]+$")


def remove_dead_writers(directory: Path, scratch: bool = False) -> list[str]:
    """Remove what killed processes left in `directory`: hidden temporary or old siblings of
    any target (`temp_sibling`, `swap_in`) and, in a scratch directory (`scratch`), the
    per-process directories named `<pid>-<8 hex>`; each only when its process is gone (a
    live writer's are never touched, so runs sharing a work directory may call it at any
    time). Nothing else matches: a dataset or a user's file keeps its name. Returns the
    names removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    gone = []
    for p in directory.iterdir():
        m = _SIBLING.match(p.name) or (_SCRATCH.match(p.name) if scratch else None)
        if m is None or pid_alive(int(m.group(1))):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        gone.append(p.name)
    return sorted(gone)


def temp_sibling(out: Path) -> Path:
    """A fresh hidden directory beside `out`, named so `remove_stale` can tell its writer."""
    tmp = out.parent / f".{out.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    return tmp


def swap_in(tmp: Path, out: Path) -> None:
    """Put a finished temporary directory in place of `out`: a reader sees the old
    complete directory or the new one, never a mix."""
    if out.is_dir() and any(out.iterdir()):
        old = out.parent / f".{out.name}{OLD_MARK}{os.getpid()}-{secrets.token_hex(4)}"
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if out.is_dir():
            out.rmdir()
        os.rename(tmp, out)


@contextmanager
def atomic_dir(out: Path, check: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Build a directory in a hidden sibling and rename it into place when the block ends
    without an error; on an error the sibling is removed and `out` is untouched. Yields the
    temporary directory to write into. `check(out)` raises when `out` may not be replaced
    (default: only a missing or empty directory); it runs before and again just before the
    swap, since the target may have been filled meanwhile."""
    out = Path(out).resolve()
    check = check or (lambda p: check_target(p, overwrite=False))
    check(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    tmp = temp_sibling(out)
    try:
        yield tmp
        check(out)
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---------------------------------------------------------------- hashes


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(files: dict[str, str]) -> str:
    """One hash over per-file hashes, in file-name order."""
    text = "\n".join(f"{name} {digest}" for name, digest in sorted(files.items()))
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------- strict JSON


def jsonable(x: Any) -> Any:
    """Strict JSON values: NaN becomes null and +-inf the strings "inf"/"-inf" (JSON has
    neither, and a reader in another language must not choke); numpy and pyarrow scalars
    become Python numbers; tuples lists; mapping keys strings."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if hasattr(x, "as_py"):  # a pyarrow scalar
        x = x.as_py()
    elif hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", None) == 0:  # a numpy scalar
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def dumps_json(obj: Any, indent: int | None = 1) -> str:
    """The project's one JSON encoding: strict (no NaN), sorted keys, a final newline."""
    return json.dumps(jsonable(obj), indent=indent, sort_keys=True, allow_nan=False) + "\n"


def write_json_atomic(path: Path, obj: Any, indent: int | None = 1) -> Path:
    return write_text_atomic(path, dumps_json(obj, indent))


def write_marker(path: Path, text: str) -> None:
    """Write the file whose presence marks a directory complete (`dataset.json`,
    `manifest.json`, `model.json`), flushed to disk before the directory is renamed in."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


# ---------------------------------------------------------------- mapping files


def read_mapping(path: Path, error: type[Exception], what: str = "a mapping of fields") -> dict:
    """Read a JSON (`.json`) or YAML file that must hold a mapping; any failure raises
    `error` naming the file and what was expected. JSON goes through `json`, not YAML:
    PyYAML reads `1e-05` as a string."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: missing (expected {what})")
    is_json = path.suffix == ".json"
    try:
        text = path.read_text()
        data = json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise error(f"{path}: malformed {'JSON' if is_json else 'YAML'}: {e}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected {what}")
    return data


def require_keys(data: dict, keys: tuple[str, ...], origin: object, error: type[Exception]) -> dict:
    for key in keys:
        if key not in data:
            raise error(f"{origin}: missing key '{key}'")
    return data


def validation_messages(err: ValidationError, origin: object) -> list[str]:
    """One "ORIGIN: field 'a.b': message" per problem pydantic found."""
    return [
        f"{origin}: field '{'.'.join(map(str, e['loc'])) or '<root>'}': {e['msg'].removeprefix('Value error, ')}"
        for e in err.errors()
    ]


M = TypeVar("M", bound=BaseModel)


def validate_model(model: type[M], data: Any, origin: object, error: type[Exception]) -> M:
    """`model.model_validate(data)`, with every problem named by file and field in `error`."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise error("; ".join(validation_messages(e, origin))) from None
