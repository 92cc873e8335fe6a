"""The article's blueprint: ``/user/hello``, ``/user/setSession``, ``/user/getSession``.

Kept as the article writes it (names, query, messages), with one change:
``/user/hello`` does not return the password field.
"""

from __future__ import annotations

import typing as t

from flask import Blueprint, session
from flask_restful import fields, marshal
from sqlalchemy import and_, or_

from .models import User

user_bp = Blueprint("user", __name__, url_prefix="/user")

# The article also marshals "password"; even hashed, it is nobody's business.
user_fields = {
    "id": fields.Integer,
    "username": fields.String,
    "age": fields.Integer,
}


@user_bp.route("/hello")
def hello() -> t.Any:
    """The users whose name starts with 王, or who are 王天祥 and over 21."""
    result = User.query.filter(
        or_(User.username.startswith("王"), and_(User.username == "王天祥", User.age > 21))
    ).order_by(User.id)
    return marshal(result.all(), fields=user_fields)


@user_bp.route("/setSession", methods=["GET", "POST"])
def setSession() -> str:  # the article's name
    """Put the article's name in the session."""
    session["name"] = "STZZ"
    return "设置session成功!!!"


@user_bp.route("/getSession")
def getSession() -> str:  # the article's name
    """The name in the session, or the article's "not logged in"."""
    username = session.get("name")
    if username:
        return str(username)
    return "用户未登录!!!"
