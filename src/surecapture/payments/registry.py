"""Which payment providers this service offers, by id."""

from __future__ import annotations

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

    def ids(self) -> list[str]:
        return sorted(self._providers)

    def get(self, provider_id: str) -> PaymentProvider:
        try:
            return self._providers[provider_id]
        except KeyError:
            raise NotFound(f"Payment provider with id: {provider_id} was not found") from None


def default_registry() -> ProviderRegistry:
    return ProviderRegistry([SystemProvider()])
