"""Flask-WTF forms: CSRF comes with them."""
from __future__ import annotations

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (BooleanField, FloatField, HiddenField, IntegerField, PasswordField, SelectChoice, SelectField,
                     StringField, TextAreaField, ValidationError)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from .models import MAX_DISPLAY_NAME
from .services.users import MIN_PASSWORD


class LoginForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class SetupForm(FlaskForm):
    username = StringField("Admin user name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=MIN_PASSWORD, max=1024)])
    confirm = PasswordField("Password again", validators=[EqualTo("password", "The passwords differ.")])


class PasswordChangeForm(FlaskForm):
    """The new password's length is checked by services.users, in the words the CLI uses too."""

    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)])
    new_password = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField("New password again", validators=[EqualTo("new_password", "The passwords differ.")])


class DisplayNameForm(FlaskForm):
    display_name = StringField("Display name", validators=[Length(max=MAX_DISPLAY_NAME)])


class AccountCreateForm(FlaskForm):
    """The admin's New account form; the name and the password are checked by services.users."""

    username = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField("Password again", validators=[EqualTo("password", "The passwords differ.")])
    is_admin = BooleanField("Administrator: manages the accounts")


class PasswordResetForm(FlaskForm):
    """An admin sets another account's password (they tell its owner, who can change it on their page)."""

    password = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField("New password again", validators=[EqualTo("password", "The passwords differ.")])


class TokenForm(FlaskForm):
    """A new personal API token; the name's rules are services.tokens', said in its words."""

    name = StringField("Name", description="What it is for: a script, an app, a phone.",
                       validators=[DataRequired(), Length(max=100)])
    read_only = BooleanField("Read-only: it can look, but change nothing")
    expires = SelectField("Expires", default="30", choices=[
        SelectChoice(days, label) for days, label in [("", "Never"), ("7", "In 7 days"), ("30", "In 30 days"),
                                                       ("90", "In 90 days"), ("365", "In a year")]])


def multiple_of_8(form, field):
    if field.data is not None and field.data % 8:
        raise ValidationError("Must be a multiple of 8.")


def at_most_max_images(form, field):
    most = current_app.config["INVOKEAI_MAX_IMAGES"]
    if field.data is not None and not 1 <= field.data <= most:
        raise ValidationError(f"Between 1 and {most} images.")


class GenerateForm(FlaskForm):
    """The generate form; the model and scheduler choices are filled by the view. Size, steps, CFG scale and
    guidance may be left blank for the chosen model's defaults; which of them a model takes, and in which
    range, is its base's to say (services/invokeai_models.check_parameters)."""

    prompt = TextAreaField("Prompt", validators=[DataRequired(), Length(max=10_000)])
    negative_prompt = TextAreaField("Negative prompt", validators=[Optional(), Length(max=10_000)])
    model = SelectField("Model", validators=[DataRequired()], validate_choice=True)
    width = IntegerField("Width", validators=[Optional(), NumberRange(64, 2048), multiple_of_8])
    height = IntegerField("Height", validators=[Optional(), NumberRange(64, 2048), multiple_of_8])
    steps = IntegerField("Steps", validators=[Optional(), NumberRange(1, 150)])
    cfg_scale = FloatField("CFG scale", validators=[Optional(), NumberRange(1, 30)])
    guidance = FloatField("Guidance", validators=[Optional(), NumberRange(0, 20)])
    scheduler = SelectField("Scheduler", validators=[DataRequired()])
    seed = IntegerField("Seed", validators=[Optional(), NumberRange(0, 2**32 - 1)],
                        description="Blank for a random seed; each further image takes the next seed.")
    count = IntegerField("Images", default=1, validators=[InputRequired(), at_most_max_images])
    # Image to image: the photo to start from (the caller's own, checked by the view) and how far to go.
    source_photo = IntegerField(widget=HiddenInput(), validators=[Optional(), NumberRange(1, 2**31 - 1)])
    strength = FloatField("Strength", validators=[Optional(), NumberRange(0, 1, "Between 0 and 1.")],
                          description="0 keeps the photo as it is, 1 repaints it all.")
