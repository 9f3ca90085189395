"""Progress of long work on stderr: bars on a terminal, a line per step elsewhere."""

from __future__ import annotations

import threading

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from migration.engine import StepResult, human_bytes

from .common import err


class WaveProgress:
    """Progress of a wave on stderr. On a terminal: one bar for the wave (steps done of the steps
    to run, file data copied) and one per system at work (its step, its bytes), gone when the
    system is done. Elsewhere (CI, a log file): a line per step started and finished."""

    def __init__(self, todo: dict[str, int] | None = None) -> None:
        self.size = human_bytes
        self.todo = dict(todo or {})
        self.copied = 0
        self._lock = threading.Lock()
        self._rows: dict[str, TaskID] = {}
        self._done: dict[str, int] = {}
        self._bytes: dict[str, int] = {}
        self.live = err().is_terminal
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[step]}"), TextColumn("{task.fields[copied]}"),
                             TimeElapsedColumn(), console=err(), disable=not self.live)
        self._wave = self.bars.add_task("wave", total=max(1, sum(self.todo.values())), step="", copied="")

    def expect(self, todo: dict[str, int]) -> None:
        """The steps each system has to run (known once the run has planned them)."""
        self.todo = dict(todo)
        self.bars.update(self._wave, total=max(1, sum(todo.values())))

    def __enter__(self) -> WaveProgress:
        self.bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.__exit__(None, None, None)

    def step_started(self, system: str, msg: str) -> None:
        if " " in msg:  # the engine's line for a finished step: step_finished shows it
            return
        with self._lock:
            if not self.live:
                err().print(f"[dim]{system}[/]: {msg}")
                return
            if system not in self._rows:
                self._rows[system] = self.bars.add_task(f"  {system}", total=max(1, self.todo.get(system, 1)),
                                                        step="", copied="")
            self.bars.update(self._rows[system], step=msg)

    def step_finished(self, result: StepResult) -> None:
        n = int(result.detail.get("bytes_copied", 0) or 0)
        with self._lock:
            self.copied += n
            self._bytes[result.system] = self._bytes.get(result.system, 0) + n
            self._done[result.system] = self._done.get(result.system, 0) + 1
            if not self.live:
                err().print(f"[dim]{result.system}[/]: {result.step} {'ok' if result.ok else '[red]FAILED[/]'} "
                            f"({result.seconds:.1f} s" + (f", {self.size(n)} copied)" if n else ")"))
                return
            self.bars.update(self._wave, advance=1, copied=self.size(self.copied) if self.copied else "")
            row = self._rows.get(result.system)
            if row is None:
                return
            mine = self._bytes[result.system]
            self.bars.update(row, advance=1, step=f"{result.step} {'ok' if result.ok else 'FAILED'}",
                             copied=self.size(mine) if mine else "")
            if not result.ok or self._done[result.system] >= self.todo.get(result.system, 0):
                self.bars.remove_task(row)
                del self._rows[result.system]


def step_lines(system: str, msg: str) -> None:
    """A line per step of a one-system command."""
    err().print(f"[dim]{system}[/]: {msg}")
