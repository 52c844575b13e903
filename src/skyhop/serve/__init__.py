"""Serving (SkyServe-compatible services, issue 12): the pure parts first.

`states` names the service and replica states, `autoscaler` decides how many replicas a
service wants from its request rate (a pure function, so the controller and the simulator
run the same rules), and `lb` holds the load balancer's in-flight ledger and policies.
"""
