"""Forms of the account page, rendered with the project's field-error convention."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import ApiToken


class ConventionBoundField(forms.BoundField):
    """Points an input at `<id>-help` and `<id>-error`, the ids every page's template uses."""

    @property
    def aria_describedby(self) -> str:
        ids = []
        if self.auto_id and self.help_text:
            ids.append(f"{self.auto_id}-help")
        if self.auto_id and self.errors:
            ids.append(f"{self.auto_id}-error")
        return " ".join(ids)


class ApiTokenCreateForm(forms.Form):
    bound_field_class = ConventionBoundField

    name = forms.CharField(
        label="Token name",
        max_length=ApiToken._meta.get_field("name").max_length,
        help_text="Say where it is used, e.g. “laptop script”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Optional, 1 to 3650. Leave empty for a token that never expires.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "token-%s")
        super().__init__(*args, **kwargs)
