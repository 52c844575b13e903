"""The GCP replay-server fixtures (cloudsim/gcp_fixtures.py) for these tests."""

from cloudsim.gcp_fixtures import gcp_api, gcp_farm  # noqa: F401 - fixtures
