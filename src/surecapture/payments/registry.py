"""Which payment providers this service offers, by id."""

from __future__ import annotations

from surecapture.config import Settings
from surecapture.errors import NotFound
from surecapture.payments.base import PaymentProvider
from surecapture.payments.system import SystemProvider


class ProviderRegistry:
    def __init__(self, providers: list[PaymentProvider]) -> None:
        self._providers = {provider.id: provider for provider in providers}

    def register(self, provider: PaymentProvider) -> None:
        self._providers[provider.id] = provider

    def unregister(self, provider_id: str) -> None:
        del self._providers[provider_id]

    async def aclose(self) -> None:
        """Close the providers that hold connections (Stripe's HTTP pool)."""
        for provider in self._providers.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()

    def ids(self) -> list[str]:
        return sorted(self._providers)

    def get(self, provider_id: str) -> PaymentProvider:
        try:
            return self._providers[provider_id]
        except KeyError:
            raise NotFound(f"Payment provider with id: {provider_id} was not found") from None


def provider_registry(settings: Settings) -> ProviderRegistry:
    """`pp_system_default` always; `pp_stripe_stripe` when STRIPE_API_KEY is set."""
    providers: list[PaymentProvider] = [SystemProvider()]
    if settings.stripe_api_key:
        from surecapture.payments.stripe import StripeProvider

        providers.append(
            StripeProvider(
                settings.stripe_api_key,
                api_base=settings.stripe_api_base,
                timeout_seconds=settings.stripe_timeout_seconds,
            )
        )
    return ProviderRegistry(providers)
