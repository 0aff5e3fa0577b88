"""Where a search's study lives: the journal file in a search folder, or a database.

Optuna-free, so the command line can check ``--storage`` / ``--study`` before Optuna is
imported (or found missing).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minigrad.tune.space import TuneError
from minigrad.validation import describe

__all__ = [
    "DEFAULT_HEARTBEAT",
    "EMBEDDED_STUDY_NAME",
    "GRACE_FACTOR",
    "STUDY_FILE",
    "StudyLocation",
    "masked_url",
]

STUDY_FILE = "study.journal"
EMBEDDED_STUDY_NAME = "minigrad-tune"
DEFAULT_HEARTBEAT = 30
"""Seconds between a running trial's heartbeats in a database study; a trial whose last
heartbeat is older than ``GRACE_FACTOR`` times this is taken as lost and run again."""
GRACE_FACTOR = 3


@dataclass(frozen=True)
class StudyLocation:
    """Where a search's study lives: the journal in a search folder, or a database.

    Attributes
    ----------
    folder : the search folder holding :data:`STUDY_FILE` (embedded), or None.
    url : an SQLAlchemy database URL (e.g. ``postgresql+psycopg2://user@host/db``), or None.
    name : the study's name in the storage.
    heartbeat : seconds between heartbeats of running trials (databases only).
    """

    folder: str | None = None
    url: str | None = None
    name: str = EMBEDDED_STUDY_NAME
    heartbeat: int = DEFAULT_HEARTBEAT

    def __post_init__(self) -> None:
        if (self.folder is None) == (self.url is None):
            raise TuneError("a study lives either in a search folder or in a database")
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 512:
            raise TuneError(f"a study name must be a non-empty string, got {describe(self.name)}")
        if type(self.heartbeat) is not int or not 1 <= self.heartbeat <= 3600:
            raise TuneError(
                f"heartbeat must be a whole number of seconds in [1, 3600], got "
                f"{describe(self.heartbeat)}"
            )

    @classmethod
    def embedded(cls, folder: str | os.PathLike[str]) -> StudyLocation:
        return cls(folder=os.fspath(folder))

    @classmethod
    def database(cls, url: str, name: str, heartbeat: int = DEFAULT_HEARTBEAT) -> StudyLocation:
        return cls(url=url, name=name, heartbeat=heartbeat)

    @property
    def is_embedded(self) -> bool:
        return self.folder is not None

    @property
    def journal(self) -> Path:
        assert self.folder is not None
        return Path(self.folder) / STUDY_FILE

    @property
    def grace_period(self) -> int:
        return GRACE_FACTOR * self.heartbeat

    def shown(self) -> str:
        """For messages: the journal's path, or the URL without its password, and the name."""
        if self.folder is not None:
            return os.fspath(self.journal)
        return f"study {self.name!r} in {masked_url(self.url or '')}"

    def to_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "url": self.url, "name": self.name,
                "heartbeat": self.heartbeat}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudyLocation:
        return cls(**dict(data))


def masked_url(url: str) -> str:
    """``url`` as messages show it: without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all (or no SQLAlchemy): shown cut short
        return describe(url)
