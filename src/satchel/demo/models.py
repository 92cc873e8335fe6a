"""The article's ``User`` model, on Flask-SQLAlchemy, and the demo's seed users."""

from __future__ import annotations

import typing as t

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash


class Base(DeclarativeBase):
    """Declarative base, so the model's columns are typed."""


db = SQLAlchemy(model_class=Base)

#: The password of every seeded user, printed by ``satchel demo``.
DEMO_PASSWORD = "satchel-demo"
#: The user ``satchel demo`` tells people to log in as (the article's "STZZ").
DEMO_USER = "stzz"

#: (username, age). ``/user/hello`` returns the 王 users and none of the others.
SEED_USERS: tuple[tuple[str, int], ...] = (
    ("王天祥", 22),  # matches both halves of the article's or_()
    ("王小明", 19),  # starts with 王 but is not over 21: matches through startswith alone
    ("李雷", 25),
    ("韩梅梅", 23),
    (DEMO_USER, 28),
)


class User(db.Model):  # type: ignore[name-defined,misc]
    """The article's model: ``User(id, username, password, age)``.

    ``password`` holds a Werkzeug hash (scrypt), never the password itself.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password: Mapped[str] = mapped_column(String(255))
    age: Mapped[int]

    def set_password(self, password: str) -> None:
        """Store a salted hash of ``password``."""
        self.password = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """Whether ``password`` is this user's."""
        return check_password_hash(self.password, password)


def seed(password: str = DEMO_PASSWORD) -> None:
    """Create the table and, when it is empty, the seed users (in an app context)."""
    db.create_all()
    if db.session.scalar(db.select(db.func.count()).select_from(User)):
        return
    for username, age in SEED_USERS:
        user = User(username=username, age=age)
        user.set_password(password)
        db.session.add(user)
    db.session.commit()


def find_user(username: str) -> User | None:
    """The user called ``username``, if any."""
    return t.cast("User | None", db.session.scalar(db.select(User).filter_by(username=username)))
