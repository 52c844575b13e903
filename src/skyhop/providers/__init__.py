"""Providers: the clouds, clusters and machine pools skyhop can run on."""
