"""The cost optimizer: from a task and the enabled infra to the cheapest plan."""
