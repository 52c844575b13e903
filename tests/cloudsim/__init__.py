"""Emulated clouds for the tests: moto_server for AWS, a fault-injecting proxy in front of it, and the
namespace hosts that stand in for the machines behind an API (tests/netns_hosts.py)."""
