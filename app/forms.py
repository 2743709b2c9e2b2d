"""Flask-WTF forms: CSRF comes with them."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from .services.users import MIN_PASSWORD


class LoginForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class SetupForm(FlaskForm):
    username = StringField("Admin user name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=MIN_PASSWORD, max=1024)])
    confirm = PasswordField("Password again", validators=[EqualTo("password", "The passwords differ.")])
