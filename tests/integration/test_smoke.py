import httpx

from tests import storefront


async def test_checkout_places_an_authorized_order(client: httpx.AsyncClient) -> None:
    cart = await storefront.ready_cart(client, quantity=2)
    result = await storefront.complete(client, cart["id"])
    assert result["type"] == "order"
    order = result["order"]
    assert order["id"].startswith("order_")
    assert order["payment_status"] == "authorized"
    assert order["total"] == cart["total"] == 2 * 19.99 + 8
