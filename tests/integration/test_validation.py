from typing import Any

import httpx
import pytest

from surecapture.api.schemas import MAX_JSON_BYTES, MAX_JSON_DEPTH
from tests import storefront


async def test_unknown_field_is_named(client: httpx.AsyncClient) -> None:
    response = await client.post("/store/carts", json={"region": "x"})
    assert response.status_code == 400
    assert response.json() == {
        "type": "invalid_data",
        "message": "Invalid request: Unrecognized fields: 'region'",
    }


async def test_wrong_type_is_named(client: httpx.AsyncClient) -> None:
    cart = await storefront.cart_with_item(client)
    variant = cart["items"][0]["variant_id"]
    response = await client.post(
        f"/store/carts/{cart['id']}/line-items", json={"variant_id": variant, "quantity": "2"}
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Invalid request: Expected type: 'number' for field 'quantity', got: 'string'"
    )


async def test_missing_field_is_named(client: httpx.AsyncClient) -> None:
    cart = await storefront.cart_with_item(client)
    response = await client.post(f"/store/carts/{cart['id']}/line-items", json={"quantity": 1})
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid request: Field 'variant_id' is required"


async def test_shipping_options_need_a_cart(client: httpx.AsyncClient) -> None:
    response = await client.get("/store/shipping-options")
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid request: Field 'cart_id' is required"


async def test_malformed_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/store/carts", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["type"] == "invalid_data"


async def test_older_sdk_fields_on_payment_collections_are_tolerated(
    client: httpx.AsyncClient,
) -> None:
    cart = await storefront.cart_with_item(client)
    body = {
        "cart_id": cart["id"],
        "region_id": cart["region_id"],
        "currency_code": "usd",
        "amount": 19.99,
    }
    collection = await storefront.ok(await client.post("/store/payment-collections", json=body))
    again = await storefront.ok(
        await client.post("/store/payment-collections", json={"cart_id": cart["id"]})
    )
    assert collection["payment_collection"]["id"] == again["payment_collection"]["id"]
    assert collection["payment_collection"]["amount"] == 19.99


@pytest.mark.parametrize(
    "path",
    [
        "/store/carts/cart_nope",
        "/store/orders/order_nope",
        "/store/regions/reg_nope",
        "/store/products/prod_nope",
        "/store/shipping-options?cart_id=cart_nope",
    ],
)
async def test_unknown_ids_are_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["type"] == "not_found"


async def test_unknown_cart_message_follows_medusa(client: httpx.AsyncClient) -> None:
    response = await client.get("/store/carts/cart_nope")
    assert response.json() == {"type": "not_found", "message": "Cart with id 'cart_nope' not found"}


async def test_unknown_line_item_is_404(client: httpx.AsyncClient) -> None:
    cart = await storefront.cart_with_item(client)
    response = await client.post(
        f"/store/carts/{cart['id']}/line-items/cali_nope", json={"quantity": 1}
    )
    assert response.status_code == 404
    assert response.json()["message"] == "Line item with id: cali_nope was not found"


async def test_unknown_variant_is_404(client: httpx.AsyncClient) -> None:
    cart = await storefront.cart_with_item(client)
    response = await client.post(
        f"/store/carts/{cart['id']}/line-items", json={"variant_id": "variant_nope", "quantity": 1}
    )
    assert response.status_code == 404


async def test_unknown_route_uses_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/store/nothing-here")
    assert response.status_code == 404
    assert response.json()["type"] == "not_found"


async def test_a_nul_byte_is_bad_input_not_a_server_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/store/products", params={"q": "a\x00b"})
    assert response.status_code == 400
    assert response.json()["type"] == "invalid_data"


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


async def test_metadata_as_deep_as_allowed_is_kept_and_read_back(client: httpx.AsyncClient) -> None:
    cart = await storefront.cart_with_item(client)
    body = {"metadata": nested(MAX_JSON_DEPTH)}
    await storefront.ok(await client.post(f"/store/carts/{cart['id']}", json=body))
    read = await storefront.ok(await client.get(f"/store/carts/{cart['id']}"))
    assert read["cart"]["metadata"] == nested(MAX_JSON_DEPTH)


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        # Deep enough (300 levels) that the answer's serializer would fail on every later read.
        (nested(300), f"nested deeper than {MAX_JSON_DEPTH} levels"),
        ({"a": [[{"b": nested(MAX_JSON_DEPTH)}]]}, f"nested deeper than {MAX_JSON_DEPTH} levels"),
        ({"note": "x" * MAX_JSON_BYTES}, f"larger than {MAX_JSON_BYTES} bytes as JSON"),
    ],
)
async def test_metadata_too_deep_or_too_large_is_a_400_and_stores_nothing(
    client: httpx.AsyncClient, metadata: dict[str, Any], reason: str
) -> None:
    cart = await storefront.cart_with_item(client)
    line = cart["items"][0]
    response = await client.post(
        f"/store/carts/{cart['id']}/line-items",
        json={"variant_id": line["variant_id"], "quantity": 1, "metadata": metadata},
    )
    assert response.status_code == 400, response.text
    assert response.json() == {
        "type": "invalid_data",
        "message": f"Invalid request: Value error, {reason} for field 'metadata'",
    }
    assert (await client.get(f"/store/carts/{cart['id']}")).status_code == 200


async def test_too_many_product_ids_is_a_400(client: httpx.AsyncClient) -> None:
    # Unbounded, a long enough list (over asyncpg's 32,767 parameters per statement, which
    # curl can send though httpx refuses so long a URL) was a 500.
    ids = {"id": [f"prod_{n}" for n in range(1001)]}
    response = await client.get("/store/products", params=ids)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "type": "invalid_data",
        "message": "Invalid request: at most 1000 values for field 'id', got 1001",
    }
    listed = await client.get("/store/products", params={"id": ids["id"][:1000]})
    assert listed.status_code == 200, listed.text
