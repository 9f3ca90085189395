"""Exit statuses of the ``jiyue`` command (after httpie's ``httpie/status.py``)."""

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    FINDINGS = 1  # the command ran and found something: policy violations, failed checks
    BAD_INPUT = 2  # bad input or usage: nothing was changed
    ENVIRONMENT = 3  # the machine lacks something the command needs (root, a tool)
    INTERNAL = 4  # a fault of jiyue itself: one line says so, the traceback is in the error log
    INTERRUPTED = 130
