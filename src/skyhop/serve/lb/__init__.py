"""The services' load balancer: which replica gets a request, and how many each is serving."""
