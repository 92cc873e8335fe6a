"""Optional packages: one kind of message for every one that is missing.

Each import of an optional package goes through :func:`optional_import` (or,
where only a setting is checked, :func:`missing`), so a user who lacks one
reads what is missing and the exact ``pip install`` that brings it.
"""

from __future__ import annotations

import typing as t
from contextlib import contextmanager

from .exc import MissingDependency

#: Top-level module -> (the package to name, what to install). Keep in step
#: with pyproject.toml's extras.
PACKAGES: dict[str, tuple[str, str]] = {
    "flask": ("Flask", 'pip install "satchel[flask]"'),
    "cryptography": ("cryptography", 'pip install "satchel[crypto]"'),
    "redis": ("redis", 'pip install "satchel[redis]"'),
    "sqlalchemy": ("SQLAlchemy", 'pip install "satchel[sql]"'),
    # SQL drivers: the two that are tested have an extra each.
    "psycopg": ("the psycopg driver", 'pip install "satchel[postgresql]"'),
    "pymysql": ("the PyMySQL driver", 'pip install "satchel[mysql]"'),
    "psycopg2": ("the psycopg2 driver", 'pip install "satchel[sql]" psycopg2-binary'),
    "MySQLdb": ("the mysqlclient driver", 'pip install "satchel[sql]" mysqlclient'),
    "mariadb": ("the MariaDB driver", 'pip install "satchel[sql]" mariadb'),
}


def missing(module: str, purpose: str) -> MissingDependency:
    """The error saying that ``purpose`` needs ``module``, which is not installed."""
    top = module.partition(".")[0]
    package, command = PACKAGES.get(top, (top, f"pip install {top}"))
    return MissingDependency(
        f"satchel: {purpose} needs {package}, which is not installed: {command}", top
    )


@contextmanager
def optional_import(purpose: str) -> t.Iterator[None]:
    """Turn the failed import of an optional package into :func:`missing`'s error.

    Only a package of :data:`PACKAGES` is translated: any other import error
    (a bug, a broken installation) passes through as it is.
    """
    try:
        yield
    except ImportError as e:
        top = (e.name or "").partition(".")[0]
        if top not in PACKAGES or isinstance(e, MissingDependency):
            raise
        raise missing(top, purpose) from e
