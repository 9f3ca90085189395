"""What every sub-command shares: options, output, and turning problems into exit statuses."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import tarfile
import traceback
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from jiyue import __version__
from jiyue.paths import LAB_NAME
from jiyue.registry import DEFAULT_CITY, CityModel, Diagnostic, RegistryError, Severity, load_city
from jiyue.status import ExitStatus


class TextJson(StrEnum):
    text = "text"
    json = "json"


class TableJson(StrEnum):
    table = "table"
    json = "json"


CityOption = Annotated[
    Path,
    typer.Option("--city", help="The city registry directory (city.yaml + departments/).",
                 show_default="the sample city, inventories/dalian"),
]


def _width(stream: Any) -> int | None:
    """A terminal's own width; 120 columns (or $COLUMNS) when writing to a pipe or a file."""
    if getattr(stream, "isatty", lambda: False)():
        return None
    return int(os.environ.get("COLUMNS", "120"))


def out() -> Console:
    """Standard output; made per call so that tests capturing sys.stdout see it."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=True, width=_width(sys.stdout))


def err() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True, width=_width(sys.stderr))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def print_diagnostics(diags: list[Diagnostic], *, stream: Console | None = None) -> None:
    console = stream or err()
    for d in diags:
        style = "red" if d.severity is Severity.error else "yellow"
        console.print(d.render(), style=style, markup=False)


def exit_with(status: ExitStatus) -> NoReturn:
    raise typer.Exit(int(status))


def load(city: Path | None, fmt: StrEnum | None = None) -> CityModel:
    """Load the city or exit 2 with every error (as JSON when the command prints JSON)."""
    try:
        return load_city(city or DEFAULT_CITY)
    except RegistryError as exc:
        errors = [d for d in exc.diagnostics if d.severity is Severity.error]
        if fmt is not None and fmt.value == "json":
            print_json({"valid": False, "errors": [d.as_dict() for d in errors],
                        "warnings": [d.as_dict() for d in exc.diagnostics if d not in errors]})
        else:
            print_diagnostics(errors)
            err().print(f"{len(errors)} error(s); nothing was changed.", style="bold red")
        exit_with(ExitStatus.BAD_INPUT)


def departments_option(model: CityModel, value: str | None, option: str = "--departments") -> list[str] | None:
    """A comma-separated list of department ids, each one of the city's (None when not given);
    exit 2 naming the unknown ones."""
    if not value:
        return None
    chosen = list(dict.fromkeys(d.strip() for d in value.split(",") if d.strip()))
    unknown = [d for d in chosen if d not in model.departments]
    if unknown or not chosen:
        what = f"no department {', '.join(map(repr, unknown))} in {model.root}" if unknown else "names no department"
        err().print(f"{option}: {what} (`jiyue city summary` lists them)", style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    return chosen


def lab_name(value: str | None, option: str = "--lab") -> str | None:
    """A rehearsal lab's name as the lab spells them (lower-case letters, digits, '-'), or exit 2."""
    if value is not None and not LAB_NAME.fullmatch(value):
        err().print(f"{option}: {value!r} is no lab name: lower-case letters, digits and '-' "
                    "(`jiyue lab status --name NAME` shows a lab)", style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    return value


def output_option(path: Path | None, option: str = "--output") -> Path | None:
    """A file a command writes its result to, checked before the command does anything: its folder
    exists and it is not a folder itself. Exit 2 otherwise, nothing done."""
    if path is None:
        return None
    problem = ("is a folder; name a file in it" if path.is_dir()
               else f"its folder {path.parent} does not exist; create it first" if not path.parent.is_dir()
               else None)
    if problem:
        err().print(f"{option}: {path}: {problem}", style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    return path


def folder_option(path: Path, option: str = "--out") -> Path:
    """A folder a command writes files into (made if missing), or exit 2 when a file is in the way."""
    if path.exists() and not path.is_dir():
        err().print(f"{option}: {path}: is a file, not a folder; name a folder (it is made if missing)",
                    style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    return path


def write_output(text: str | bytes, path: Path | None, option: str = "--output") -> None:
    """Write a command's result to ``path`` (standard output when None), or exit 2 saying why not.
    Bytes (a workbook) go to a file only."""
    if path is None:
        if isinstance(text, bytes):
            err().print(f"{option}: this output is a binary file: name the file to write it to", style="red",
                        markup=False)
            exit_with(ExitStatus.BAD_INPUT)
        out().file.write(text)
        return
    output_option(path, option)
    try:
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        err().print(f"{option}: {path}: cannot be written: {exc.strerror}", style="red", markup=False)
        exit_with(ExitStatus.BAD_INPUT)
    err().print(f"wrote {path}", markup=False)


ERROR_LOG = "jiyue-error.log"


def internal_error(exc: BaseException, args: Sequence[str], default_state: Path) -> int:
    """An exception no command turned into an exit status: one line on stderr, the traceback in
    the error log beside the command's state database (``--state``, else ``default_state``)."""
    state = default_state
    for i, a in enumerate(args):
        if a == "--state" and i + 1 < len(args):
            state = Path(args[i + 1])
        elif a.startswith("--state="):
            state = Path(a.removeprefix("--state="))
    log = state.parent / ERROR_LOG
    message = (str(exc).strip().splitlines() or [""])[0][:300]
    what = f"jiyue: internal error: {type(exc).__name__}: {message}"
    try:
        log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(f"--- {dt.datetime.now().astimezone().isoformat(timespec='seconds')} jiyue {__version__}: "
                    f"jiyue {' '.join(args)}\n")
            f.write("".join(traceback.format_exception(exc)))
    except OSError as log_exc:
        sys.stderr.write(f"{what}; the details could not be written to {log} ({log_exc.strerror}):\n"
                         + "".join(traceback.format_exception(exc)))
    else:
        sys.stderr.write(f"{what}; the details are in {log}\n")
    return int(ExitStatus.INTERNAL)


YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking (needed when not on a terminal).")]


def confirm_or_exit(what: str, yes: bool) -> None:
    """Ask on a terminal before something that cannot simply be undone (``what`` says it);
    elsewhere ``--yes`` must say it. Refused: exit 2, nothing changed."""
    if yes:
        return
    if not sys.stdin.isatty():
        err().print(f"{what}; not on a terminal: confirm with --yes. Nothing was changed.", style="red")
        exit_with(ExitStatus.BAD_INPUT)
    if not typer.confirm(f"{what}. Go on?", default=False, err=True):
        err().print("nothing was changed", style="yellow")
        exit_with(ExitStatus.BAD_INPUT)


def base_registry(base: str, city: Path, into: Path) -> Path:
    """The base registry's directory: ``base`` itself, or the registry at --city's path in the git
    revision ``base``, extracted under ``into``; exit 2 saying why not."""
    given = Path(base)
    if given.is_dir():
        return given
    hint = "give a registry directory, or a git revision such as origin/main (`git log` lists them)"

    def git(*args: str, where: Path | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", "-C", str(where or city.resolve()), *args], capture_output=True, check=False)

    top = git("rev-parse", "--show-toplevel") if city.is_dir() else None
    if top is None or top.returncode != 0:
        _bad(f"--base: {base}: no such directory, and {city} is in no git repository to take a revision from ({hint})")
    root = Path(top.stdout.decode().strip()).resolve()
    if git("rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").returncode != 0:
        _bad(f"--base: {base}: no such directory, nor a revision of the repository at {root} ({hint})")
    rel = city.resolve().relative_to(root).as_posix()
    archive = git("archive", "--format=tar", base, "--", rel, where=root)
    if archive.returncode != 0:
        _bad(f"--base: {base}: the revision has no registry at {rel} (compare with a revision that has one)")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / rel


def load_base(base: str, city: Path, into: Path) -> CityModel:
    """The base registry of a comparison (``--base``: a directory or a git revision), loaded; exit 2
    with its errors when it is not valid."""
    try:
        return load_city(base_registry(base, city, into))
    except RegistryError as exc:
        print_diagnostics([d for d in exc.diagnostics if d.severity is Severity.error])
        _bad(f"--base: {base}: the base registry is not valid (fix it, or compare with another base)")


def _bad(message: str) -> NoReturn:
    err().print(message, style="bold red", markup=False)
    exit_with(ExitStatus.BAD_INPUT)
