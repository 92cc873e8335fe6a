"""Failed sign-ins slow down, per account and per client address.

After :data:`FREE` failures, each further attempt waits twice as long as the
one before (1 s, 2 s, 4 s ...), never more than :data:`CAP`; a count left
alone for :data:`FORGET` starts again from zero. While an account is being
guessed at, a client address with no failures on record may still try it, so
that an attacker cannot lock its owner out; every address he uses loses that
exemption at its first failure.

The counts live in the demo's database (table ``login_failures``), so every
worker thread and process sees the same ones. An attempt is claimed before
the password is checked (counted as a failure, taken back when it succeeds),
by a compare-and-set update: of two parallel attempts at the last free slot,
one goes ahead and the other is told to wait.
"""

from __future__ import annotations

import math
import time
import typing as t

from sqlalchemy import Float, String, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from .models import db

#: Failures allowed before the first wait.
FREE = 3
#: The longest wait, in seconds: an attacker cannot lock anyone out for longer.
CAP = 15 * 60
#: Seconds after its last failure at which a count is forgotten.
FORGET = 60 * 60
#: The time, in seconds since the epoch (tests replace it).
clock: t.Callable[[], float] = time.time


class LoginFailure(db.Model):  # type: ignore[name-defined,misc]
    """Failed sign-ins of one account or one client address."""

    __tablename__ = "login_failures"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # "account" or "client"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    failures: Mapped[int]
    last: Mapped[float] = mapped_column(Float, index=True)


_Key = tuple[str, str]
_Row = tuple[int, float]  # (failures, last)


def delay(failures: int) -> int:
    """Seconds to wait after ``failures`` failures (0 while within :data:`FREE`)."""
    if failures < FREE:
        return 0
    return min(CAP, 1 << min(failures - FREE, 20))


def _count(row: _Row | None, now: float) -> int:
    return 0 if row is None or now - row[1] >= FORGET else row[0]


def _wait(row: _Row | None, now: float) -> float:
    failures = _count(row, now)
    return 0.0 if row is None or failures < FREE else max(0.0, row[1] + delay(failures) - now)


def _read(key: _Key) -> _Row | None:
    found = db.session.execute(
        select(LoginFailure.failures, LoginFailure.last).filter_by(kind=key[0], name=key[1])
    ).first()
    return None if found is None else (found[0], found[1])


def _claim(key: _Key, row: _Row | None, now: float) -> bool:
    """Count one more failure for ``key`` if it still reads ``row``; False if it changed."""
    if row is None:
        # Forgotten counts are deleted here, where counts are made.
        db.session.execute(delete(LoginFailure).where(LoginFailure.last < now - FORGET))
        try:
            db.session.execute(
                insert(LoginFailure).values(kind=key[0], name=key[1], failures=1, last=now)
            )
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return False
        return True
    changed = db.session.execute(
        update(LoginFailure)
        .filter_by(kind=key[0], name=key[1], failures=row[0], last=row[1])
        .values(failures=_count(row, now) + 1, last=now)
    )
    db.session.commit()
    return bool(changed.rowcount == 1)  # type: ignore[attr-defined]


def _take_back(key: _Key) -> None:
    db.session.execute(
        update(LoginFailure)
        .filter_by(kind=key[0], name=key[1])
        .where(LoginFailure.failures > 0)
        .values(failures=LoginFailure.failures - 1)
    )
    db.session.commit()


def begin(client: str, account: str) -> float:
    """Claim a sign-in attempt: 0 if it may go ahead, else the seconds to wait.

    A claimed attempt counts as a failure of both ``client`` and ``account``
    until :func:`succeeded` takes it back.
    """
    mine, theirs = ("client", client), ("account", account)
    for _ in range(10):  # each retry means another attempt just changed a count
        now = clock()
        client_row, account_row = _read(mine), _read(theirs)
        exempt = _count(client_row, now) == 0
        wait = max(_wait(client_row, now), 0.0 if exempt else _wait(account_row, now))
        if wait > 0:
            return wait
        if not _claim(mine, client_row, now):
            continue
        if _claim(theirs, account_row, now):
            return 0.0
        _take_back(mine)
    return 1.0  # a crowd at the door: try again in a second


def succeeded(client: str, account: str) -> None:
    """The attempt claimed by :func:`begin` was right: the account's count starts
    again; the client's loses this attempt only (its earlier failures stay)."""
    db.session.execute(delete(LoginFailure).filter_by(kind="account", name=account))
    db.session.commit()
    _take_back(("client", client))


def wait_message(seconds: float) -> str:
    """The message for a wait: "Too many failed sign-ins: try again in 3 seconds."."""
    whole = max(1, math.ceil(seconds))
    if whole < 120:
        amount = f"{whole} second{'' if whole == 1 else 's'}"
    else:
        amount = f"{math.ceil(whole / 60)} minutes"
    return f"Too many failed sign-ins: try again in {amount}."
