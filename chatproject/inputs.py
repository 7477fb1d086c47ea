"""The base of every REST input serializer: input of the wrong JSON type is refused, not coerced.

DRF's fields are lenient where the OpenAPI schema is not: a CharField takes `0` as "0", a
BooleanField takes `0`, `"yes"` or `"on"` as a boolean, and in a query string a blank optional
parameter (`?region=`, `?before=`) is dropped as if absent. A mobile client generated from the
schema must be able to trust that what the schema calls a string or a boolean is the only thing the
API takes, so the API answers those with 400 `invalid` and the field's name, like any other rule.
Query strings and forms carry only text, so there only the blank rule applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.utils import html

# JSON type each field kind requires (subclasses included: RegexField, EmailField, URLField, ...)
_JSON_TYPES: tuple[tuple[type[serializers.Field[Any, Any, Any, Any]], type, str], ...] = (
    (serializers.BooleanField, bool, "Must be true or false."),
    (serializers.CharField, str, "Must be a string."),
)


# no docstring: drf-spectacular would publish it as the description of every input schema
class InputSerializer(serializers.Serializer[Any]):
    def to_internal_value(self, data: Any) -> Any:
        type_errors = _type_errors(self, data) if isinstance(data, Mapping) else {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # every field's error at once, as DRF gives them; a wrong type is the one said
            if type_errors and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **type_errors}) from exc
            raise
        if type_errors:
            raise serializers.ValidationError(type_errors)
        return value


def _type_errors(serializer: serializers.Serializer[Any], data: Mapping[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    text_only = html.is_html_input(data)
    for field in serializer._writable_fields:
        name = field.field_name
        if name is None or name not in data:
            continue
        value = data[name]
        if text_only:
            if value == "" and not getattr(field, "allow_blank", False):
                errors[name] = ["May not be blank."]
            continue
        if value is None:
            continue  # allow_null is the field's own rule
        for kind, json_type, message in _JSON_TYPES:
            if isinstance(field, kind) and not isinstance(value, json_type):
                errors[name] = [message]
    return errors
