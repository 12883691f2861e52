// Guest checkout against a running surecapture server through the official
// @medusajs/js-sdk. Prints exactly one line of JSON on stdout; exits 1 on failure.
//
//   BASE_URL=http://127.0.0.1:8123 PUBLISHABLE_KEY=pk_... node checkout.mjs
//
// Optional: TIMEOUT_MS (default 60000) bounds the whole run.
import Medusa, { FetchError } from "@medusajs/js-sdk"

const steps = []
let current = "config"

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n")
}

function fail(step, error, status) {
  const out = { ok: false, step, error: String(error) }
  if (status !== undefined && status !== null) out.status = status
  emit(out)
  process.exit(1)
}

function check(cond, message) {
  if (!cond) throw new Error(message)
}

// Runs one named step; records its name when it succeeds.
async function step(name, fn) {
  current = name
  const result = await fn()
  steps.push(name)
  return result
}

function errorMessage(err) {
  if (err instanceof Error) {
    // undici's "fetch failed" hides the real reason (ECONNREFUSED, ...) in `cause`.
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : ""
    return `${err.message}${cause}`
  }
  return String(err)
}

async function main() {
  const baseUrl = process.env.BASE_URL
  const publishableKey = process.env.PUBLISHABLE_KEY
  check(baseUrl, "BASE_URL is not set")
  check(publishableKey, "PUBLISHABLE_KEY is not set")

  // The SDK's logger defaults to console.*; route everything to stderr so that
  // stdout carries only the JSON summary line.
  const toStderr = (...args) => console.error(...args)
  const sdk = new Medusa({
    baseUrl,
    publishableKey,
    debug: false,
    logger: { error: toStderr, warn: toStderr, info: toStderr, debug: toStderr },
  })

  const region = await step("region.list", async () => {
    const { regions } = await sdk.store.region.list()
    check(Array.isArray(regions) && regions.length > 0, "no regions returned")
    return regions.find((r) => r.currency_code === "usd") ?? regions[0]
  })
  const countryCode = region.countries?.[0]?.iso_2?.toLowerCase()
  check(countryCode, `region ${region.id} has no countries`)

  const variant = await step("product.list", async () => {
    const { products } = await sdk.store.product.list({
      region_id: region.id,
      fields: "*variants.calculated_price",
    })
    check(Array.isArray(products), "products is not an array")
    for (const product of products) {
      const v = (product.variants ?? []).find((x) => x.calculated_price)
      if (v) return v
    }
    throw new Error("no product has a variant with a calculated_price")
  })

  let cart = await step("cart.create", async () => {
    const { cart } = await sdk.store.cart.create({ region_id: region.id })
    check(cart?.id, "cart has no id")
    check(cart.region_id === region.id, `cart.region_id ${cart.region_id} != ${region.id}`)
    return cart
  })

  cart = await step("cart.createLineItem", async () => {
    const { cart: c } = await sdk.store.cart.createLineItem(cart.id, {
      variant_id: variant.id,
      quantity: 2,
    })
    const line = (c.items ?? []).find((i) => i.variant_id === variant.id)
    check(line, "line item for the variant is missing")
    check(line.quantity === 2, `line item quantity is ${line.quantity}, expected 2`)
    return c
  })

  const address = {
    first_name: "E2E",
    last_name: "Tester",
    address_1: "1 Test Street",
    city: "Testville",
    country_code: countryCode,
    postal_code: "10001",
  }
  cart = await step("cart.update", async () => {
    const { cart: c } = await sdk.store.cart.update(cart.id, {
      email: "e2e@example.com",
      shipping_address: address,
      billing_address: address,
    })
    check(c.email === "e2e@example.com", `cart.email is ${c.email}`)
    check(
      c.shipping_address?.country_code === countryCode,
      `shipping_address.country_code is ${c.shipping_address?.country_code}`
    )
    return c
  })

  const option = await step("fulfillment.listCartOptions", async () => {
    const { shipping_options } = await sdk.store.fulfillment.listCartOptions({
      cart_id: cart.id,
    })
    check(Array.isArray(shipping_options) && shipping_options.length > 0, "no shipping options")
    return shipping_options[0]
  })

  cart = await step("cart.addShippingMethod", async () => {
    const { cart: c } = await sdk.store.cart.addShippingMethod(cart.id, {
      option_id: option.id,
    })
    check(
      (c.shipping_methods ?? []).some((m) => m.shipping_option_id === option.id),
      "shipping method for the option is missing"
    )
    return c
  })

  await step("payment.listPaymentProviders", async () => {
    const { payment_providers } = await sdk.store.payment.listPaymentProviders({
      region_id: region.id,
    })
    const ids = (payment_providers ?? []).map((p) => p.id)
    check(ids.includes("pp_system_default"), `pp_system_default not in [${ids.join(", ")}]`)
  })

  cart = await step("cart.retrieve", async () => {
    const { cart: c } = await sdk.store.cart.retrieve(cart.id)
    check(c?.id === cart.id, "retrieved a different cart")
    return c
  })

  await step("payment.initiatePaymentSession", async () => {
    const { payment_collection } = await sdk.store.payment.initiatePaymentSession(cart, {
      provider_id: "pp_system_default",
    })
    check(payment_collection?.id, "payment_collection has no id")
    check(
      (payment_collection.payment_sessions ?? []).some(
        (s) => s.provider_id === "pp_system_default"
      ),
      "no pp_system_default payment session"
    )
  })

  const orderId = await step("cart.complete", async () => {
    const result = await sdk.store.cart.complete(cart.id)
    if (result.type !== "order") {
      const why = result.error?.message ? `: ${result.error.message}` : ""
      throw new Error(`complete returned type ${JSON.stringify(result.type)}${why}`)
    }
    check(result.order?.id, "order has no id")
    return result.order.id
  })

  const order = await step("order.retrieve", async () => {
    const { order } = await sdk.store.order.retrieve(orderId)
    check(order?.id === orderId, `retrieved order ${order?.id} != ${orderId}`)
    return order
  })

  const secondOrderId = await step("cart.complete.again", async () => {
    const result = await sdk.store.cart.complete(cart.id)
    check(result.type === "order", `second complete returned type ${JSON.stringify(result.type)}`)
    check(
      result.order?.id === orderId,
      `second complete returned order ${result.order?.id} != ${orderId}`
    )
    return result.order.id
  })

  const notFound = await step("cart.retrieve.not_found", async () => {
    try {
      await sdk.store.cart.retrieve("cart_doesnotexist")
    } catch (err) {
      check(err instanceof FetchError, `expected FetchError, got ${errorMessage(err)}`)
      check(err.status === 404, `expected status 404, got ${err.status} (${err.message})`)
      return { status: err.status, message: err.message }
    }
    throw new Error("retrieving cart_doesnotexist did not throw")
  })

  emit({
    ok: true,
    order_id: order.id,
    order_total: order.total,
    item_total: order.item_total,
    shipping_total: order.shipping_total,
    currency_code: order.currency_code,
    second_complete_order_id: secondOrderId,
    not_found_status: notFound.status,
    not_found_message: notFound.message,
    steps,
  })
}

const timeoutMs = Number(process.env.TIMEOUT_MS || 60000)
const timer = setTimeout(() => fail(current, `timed out after ${timeoutMs} ms`), timeoutMs)
timer.unref()

try {
  await main()
  process.exit(0)
} catch (err) {
  fail(current, errorMessage(err), err instanceof FetchError ? err.status : undefined)
}
