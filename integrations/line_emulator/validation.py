"""Request bodies checked against LINE's OpenAPI document, or line-bot-sdk's models without it.

Plain JSON Schema ignores OpenAPI's `discriminator`, and LINE's polymorphic objects (Message,
Action, Template, FlexContainer, FlexComponent, ...) are defined by it: a subtype is
`allOf: [{$ref: Base}, {...}]` and the base maps each `type` to its subtype. The walker below
compiles each schema once into nested closures that dispatch on `type`, so checking a request
costs one pass over the body.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml

Detail = dict[str, str]
Check = Callable[[Any, str, list[Detail]], None]

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")


def child(path: str, name: str) -> str:
    """The property path LINE reports: `messages[0].quickReply.items`."""
    return f"{path}.{name}" if path else name


def detail(path: str, message: str) -> Detail:
    """One entry of an error answer's `details`."""
    return {"message": message, "property": path}


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "object": (lambda v: isinstance(v, dict), "must be an object"),
    "array": (lambda v: isinstance(v, list), "must be an array"),
    "string": (lambda v: isinstance(v, str), "must be a string"),
    "integer": (_is_integer, "must be an integer"),
    "number": (_is_number, "must be a number"),
    "boolean": (lambda v: isinstance(v, bool), "must be a boolean"),
}


def _between(low: Any, high: Any) -> str:
    return f"{low if low is not None else 0} and {high if high is not None else 'unbounded'}"


class Validator(Protocol):
    """Checks a request body against a named schema; an empty list means valid."""

    source: str

    def check(self, schema_name: str, value: Any) -> list[Detail]:
        """The problems with `value` as an instance of `schema_name`."""
        ...


class OpenApiValidator:
    """Compiled checks for the component schemas of one OpenAPI 3.0 document."""

    source = "openapi"

    def __init__(self, document: dict[str, Any]) -> None:
        self._schemas: dict[str, Any] = document["components"]["schemas"]
        self._compiled: dict[tuple[str, bool], Check] = {}

    def check(self, schema_name: str, value: Any) -> list[Detail]:
        """The problems with `value` as an instance of `schema_name`."""
        errors: list[Detail] = []
        self.compiled(schema_name)(value, "", errors)
        return errors

    def compiled(self, name: str, polymorphic: bool = True) -> Check:
        """The check for a component schema, compiled on first use and kept."""
        key = (name, polymorphic)
        found = self._compiled.get(key)
        if found is not None:
            return found
        # Schemas are recursive (a Flex box holds components): hand out a trampoline while
        # this one compiles, then replace it with the real check.
        slot: list[Check] = []

        def late(value: Any, path: str, errors: list[Detail]) -> None:
            slot[0](value, path, errors)

        self._compiled[key] = late
        schema = self._schemas[name]
        if polymorphic and "discriminator" in schema:
            check = self._dispatch(name, schema)
        else:
            check = self._compile(schema, owner=name)
        slot.append(check)
        self._compiled[key] = check
        return check

    def _dispatch(self, name: str, schema: dict[str, Any]) -> Check:
        prop = schema["discriminator"]["propertyName"]
        mapping = {
            tag: self.compiled(_ref_name(ref))
            for tag, ref in schema["discriminator"]["mapping"].items()
        }
        base = self.compiled(name, polymorphic=False)
        known = ", ".join(mapping)

        def dispatch(value: Any, path: str, errors: list[Detail]) -> None:
            if not isinstance(value, dict):
                base(value, path, errors)
                return
            tag = value.get(prop)
            if tag is None:
                errors.append(detail(child(path, prop), "must be specified"))
                return
            subtype = mapping.get(tag) if isinstance(tag, str) else None
            if subtype is None:
                errors.append(detail(child(path, prop), f"unknown type {tag!r}; one of: {known}"))
                return
            subtype(value, path, errors)

        return dispatch

    def _inherits(self, owner: str | None, base: str) -> bool:
        discriminator = self._schemas[base].get("discriminator")
        if owner is None or discriminator is None:
            return False
        target = f"#/components/schemas/{owner}"
        return target in discriminator.get("mapping", {}).values()

    def _compile(self, schema: dict[str, Any], owner: str | None = None) -> Check:
        if "$ref" in schema:
            return self.compiled(_ref_name(schema["$ref"]))
        checks: list[Check] = []
        for part in schema.get("allOf", ()):
            if "$ref" in part:
                base = _ref_name(part["$ref"])
                # A subtype includes its base's own properties; dispatching on `type` again
                # from inside the subtype would never end.
                checks.append(self.compiled(base, polymorphic=not self._inherits(owner, base)))
            else:
                checks.append(self._compile(part))
        checks.extend(self._keywords(schema))
        type_name = schema.get("type")
        type_test: Callable[[Any], bool] | None = None
        type_message = ""
        if isinstance(type_name, str) and type_name in _TYPES:
            type_test, type_message = _TYPES[type_name]
        nullable = bool(schema.get("nullable"))

        def check(value: Any, path: str, errors: list[Detail]) -> None:
            if value is None and nullable:
                return
            if type_test is not None and not type_test(value):
                errors.append(detail(path, type_message))
                return
            for each in checks:
                each(value, path, errors)

        return check

    def _keywords(self, schema: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []
        required = list(schema.get("required", ()))
        if required:

            def check_required(value: Any, path: str, errors: list[Detail]) -> None:
                if isinstance(value, dict):
                    for name in required:
                        if value.get(name) is None:
                            errors.append(detail(child(path, name), "must be specified"))

            checks.append(check_required)
        properties = {
            name: self._compile(sub) for name, sub in schema.get("properties", {}).items()
        }
        if properties:

            def check_properties(value: Any, path: str, errors: list[Detail]) -> None:
                if isinstance(value, dict):
                    for name, sub in properties.items():
                        if name in value and value[name] is not None:
                            sub(value[name], child(path, name), errors)

            checks.append(check_properties)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            extra_check = self._compile(extra)

            def check_extra(value: Any, path: str, errors: list[Detail]) -> None:
                if isinstance(value, dict):
                    for name, sub_value in value.items():
                        if name not in properties:
                            extra_check(sub_value, child(path, name), errors)

            checks.append(check_extra)
        if "items" in schema:
            items = self._compile(schema["items"])

            def check_items(value: Any, path: str, errors: list[Detail]) -> None:
                if isinstance(value, list):
                    for index, item in enumerate(value):
                        items(item, f"{path}[{index}]", errors)

            checks.append(check_items)
        checks.extend(_bounds(schema))
        return checks


def _bounds(schema: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    min_items, max_items = schema.get("minItems"), schema.get("maxItems")
    if min_items is not None or max_items is not None:
        low, high = min_items or 0, max_items if max_items is not None else float("inf")
        items_message = f"Size must be between {_between(min_items, max_items)}"

        def check_size(value: Any, path: str, errors: list[Detail]) -> None:
            if isinstance(value, list) and not low <= len(value) <= high:
                errors.append(detail(path, items_message))

        checks.append(check_size)
    min_length, max_length = schema.get("minLength"), schema.get("maxLength")
    if min_length is not None or max_length is not None:
        shortest = min_length or 0
        longest = max_length if max_length is not None else float("inf")
        length_message = f"Length must be between {_between(min_length, max_length)}"

        def check_length(value: Any, path: str, errors: list[Detail]) -> None:
            if isinstance(value, str) and not shortest <= len(value) <= longest:
                errors.append(detail(path, length_message))

        checks.append(check_length)
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    if minimum is not None or maximum is not None:
        floor = minimum if minimum is not None else float("-inf")
        ceiling = maximum if maximum is not None else float("inf")
        range_message = f"must be between {_between(minimum, maximum)}"

        def check_range(value: Any, path: str, errors: list[Detail]) -> None:
            if _is_number(value) and not floor <= value <= ceiling:
                errors.append(detail(path, range_message))

        checks.append(check_range)
    if "enum" in schema:
        allowed = list(schema["enum"])
        enum_message = f"Must be one of the following values: {allowed}"

        def check_enum(value: Any, path: str, errors: list[Detail]) -> None:
            if value not in allowed:
                errors.append(detail(path, enum_message))

        checks.append(check_enum)
    if "pattern" in schema:
        pattern = re.compile(schema["pattern"])

        def check_pattern(value: Any, path: str, errors: list[Detail]) -> None:
            if isinstance(value, str) and not pattern.search(value):
                errors.append(detail(path, f"must match {pattern.pattern}"))

        checks.append(check_pattern)
    if schema.get("format") == "uri":

        def check_uri(value: Any, path: str, errors: list[Detail]) -> None:
            if isinstance(value, str) and not _URI.match(value):
                errors.append(detail(path, "must be a URI"))

        checks.append(check_uri)
    return checks


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


class SdkModelValidator:
    """line-bot-sdk's own pydantic models, for when LINE's OpenAPI document is not at hand."""

    source = "line-bot-sdk"

    def check(self, schema_name: str, value: Any) -> list[Detail]:
        """The problems with `value` as an instance of the SDK model `schema_name`."""
        from linebot.v3.messaging import models

        if not isinstance(value, dict):
            return [detail("", "must be an object")]
        errors: list[Detail] = []
        messages = value.get("messages")
        if isinstance(messages, list):
            # Each message on its own first: the SDK's nested errors do not say which one.
            for index, message in enumerate(messages):
                errors.extend(_sdk_errors(models.Message, message, f"messages[{index}]"))
        return errors or _sdk_errors(getattr(models, schema_name), value, "")


def _sdk_errors(model: Any, value: Any, path: str) -> list[Detail]:
    if not isinstance(value, dict):
        return [detail(path, "must be an object")]
    try:
        model.from_dict(value)
    except Exception as exc:  # the generated models raise whatever their input provokes
        return [
            detail(".".join(part for part in (path, found["property"]) if part), found["message"])
            for found in _sdk_details(exc)
        ]
    return []


def _sdk_details(exc: Exception) -> list[Detail]:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return [
            detail(".".join(str(part) for part in err.get("loc", ())), str(err.get("msg")))
            for err in errors()
        ]
    return [detail("", str(exc)[:300])]


@lru_cache(maxsize=4)
def _load_document(path: str, mtime: float) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=loader)
    return document


def load_openapi(path: Path) -> dict[str, Any]:
    """An OpenAPI document, parsed once per file version (tests build many emulators)."""
    return _load_document(str(path), path.stat().st_mtime)


def build_validator(spec_path: Path | None, schema_names: list[str]) -> Validator:
    """The spec's validator with `schema_names` compiled up front, or the SDK fallback."""
    if spec_path is None or not spec_path.is_file():
        return SdkModelValidator()
    validator = OpenApiValidator(load_openapi(spec_path))
    for name in schema_names:
        validator.compiled(name)
    return validator
