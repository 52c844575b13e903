"""A provider plugin as a third party would write one: only the public protocol is used."""

from skyhop.catalog.offer import Offer
from skyhop.providers.credentials import CheckResult


class ToyCloud:
    name = "toycloud"

    def check(self):
        return CheckResult("toycloud", True, "toy credentials found")

    def offers(self):
        yield Offer("toycloud", "toy-1", None, 0.0, 8.0, 32.0, "toy-region", None, 0.05, None, None)
