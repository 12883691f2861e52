import pytest

from surecapture.api.errors import validation_message


@pytest.mark.parametrize(
    ("errors", "message"),
    [
        (
            [{"type": "extra_forbidden", "loc": ("body", "x"), "input": 1}],
            "Invalid request: Unrecognized fields: 'x'",
        ),
        (
            [{"type": "missing", "loc": ("body", "variant_id"), "input": {}}],
            "Invalid request: Field 'variant_id' is required",
        ),
        (
            [{"type": "int_type", "loc": ("body", "quantity"), "input": "2"}],
            "Invalid request: Expected type: 'number' for field 'quantity', got: 'string'",
        ),
        (
            [
                {"type": "missing", "loc": ("body", "a"), "input": {}},
                {"type": "missing", "loc": ("body", "b"), "input": {}},
                {"type": "missing", "loc": ("body", "c"), "input": {}},
                {"type": "missing", "loc": ("body", "d"), "input": {}},
            ],
            "Invalid request: Field 'a' is required; Field 'b' is required; Field 'c' is required",
        ),
        (
            [{"type": "missing", "loc": ("query", "cart_id"), "input": None}],
            "Invalid request: Field 'cart_id' is required",
        ),
    ],
)
def test_pydantic_errors_read_as_medusa_messages(
    errors: list[dict[str, object]], message: str
) -> None:
    assert validation_message(errors) == message
