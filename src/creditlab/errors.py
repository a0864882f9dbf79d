"""Error types. Every error a user can cause is a :class:`CreditlabError` with a message that names
the file, row and column involved; the CLI maps them to exit codes instead of tracebacks."""

from __future__ import annotations


class CreditlabError(Exception):
    """Base class for every error creditlab raises on purpose."""

    exit_code = 1


class ConfigError(CreditlabError):
    """A params or mapping file is missing, malformed, or has unknown or ill-typed keys."""

    exit_code = 2


class SchemaError(CreditlabError):
    """A structural problem with input data: missing file or column, bad encoding, empty table."""

    exit_code = 3


class RejectsError(CreditlabError):
    """Row problems were found and ``strict`` mode turns them into a failure."""

    exit_code = 4


class ReportError(CreditlabError):
    """A report notebook failed to execute or render."""

    exit_code = 5


class ConvergenceError(CreditlabError):
    """The sampler's diagnostics failed the convergence gate (R-hat, ESS, divergences, E-BFMI)."""

    exit_code = 6


class DeliveryError(CreditlabError):
    """An e-mail could not be delivered: SMTP settings missing, server unreachable, rejected."""

    exit_code = 7
