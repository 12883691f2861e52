"""Captures per second: the worker draining 5,000 due capture jobs against the fake Stripe.

    .venv/bin/python -m bench.capture_throughput [--orders 5000] [--concurrency 50] [--workers 1]

Real Postgres (a scratch database) and the real Redis on 127.0.0.1:6379 (a scratch key prefix,
deleted afterwards). The fake Stripe runs in a process of its own, so that it does not compete
with the worker for the GIL; on this 2-core machine it still competes for a core.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections import Counter

from sqlalchemy import func, select

from bench.setup import insert_orders, machine, scratch_database
from surecapture.config import load_settings
from surecapture.context import build_context
from surecapture.db.models import Capture
from surecapture.workers.payment_capture_worker import PaymentCaptureWorker
from tests.fakes.fake_stripe import FAKE_API_KEY
from tests.fakes.stripe_process import FakeStripeProcess


async def run(orders: int, concurrency: int, workers: int) -> None:
    prefix = f"bench{secrets.token_hex(4)}"
    async with scratch_database() as url:
        with FakeStripeProcess() as stripe:
            references = stripe.add_payment_intents(orders, amount=4798)
            settings = load_settings(
                database_url=url,
                queue_prefix=prefix,
                stripe_api_key=FAKE_API_KEY,
                stripe_api_base=stripe.url,
                worker_concurrency=concurrency,
            )
            context = build_context(settings)
            try:
                placed = await insert_orders(
                    context.db, references, total=4798, provider_id="pp_stripe_stripe"
                )
                for start in range(0, len(placed), 1000):
                    await context.queue.schedule_many(
                        (o.id, o.reference, o.due_at) for o in placed[start : start + 1000]
                    )

                started = time.perf_counter()
                runners = [PaymentCaptureWorker(context) for _ in range(workers)]
                for worker in runners:
                    await worker.start()
                while await _captured(context) < orders:
                    await asyncio.sleep(0.05)
                elapsed = time.perf_counter() - started
                for worker in runners:
                    await worker.close()

                captures = [e for e in stripe.ledger() if e.kind == "capture"]
                per_intent = Counter(e.payment_intent for e in captures)
                doubled = sum(n > 1 for n in per_intent.values())
                missing = sum(r not in per_intent for r in references)
                print(f"machine: {machine()}")
                print(
                    f"capture throughput: {orders} due jobs drained in {elapsed:.2f} s = "
                    f"{orders / elapsed:.0f} captures/s ({workers} worker(s) x concurrency "
                    f"{concurrency}); fake Stripe captures {len(captures)}, "
                    f"doubled {doubled}, missing {missing}"
                )
            finally:
                keys = [k async for k in context.redis.scan_iter(match=f"{prefix}:*", count=1000)]
                for start in range(0, len(keys), 1000):
                    await context.redis.delete(*keys[start : start + 1000])
                await context.close()


async def _captured(context: object) -> int:
    async with context.db() as session:  # type: ignore[attr-defined]
        return await session.scalar(select(func.count()).select_from(Capture)) or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(run(args.orders, args.concurrency, args.workers))


if __name__ == "__main__":
    main()
