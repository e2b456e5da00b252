"""Errors a user can fix (bad data, inconsistent config): entry points print them without a stack trace."""


class UserError(ValueError):
    """Base of errors whose message alone tells the user what to fix."""


class DataError(UserError):
    """A sample or data file that violates the schema; the message names the file, line and id."""


class ConfigError(UserError):
    """A configuration that cannot run (e.g. a batch larger than the dataset)."""


class TrainingDiverged(UserError):
    """Too many consecutive steps with a non-finite loss or reward."""
