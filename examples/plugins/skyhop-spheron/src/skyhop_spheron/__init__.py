"""skyhop-spheron: Spheron AI GPU instances as a skyhop provider (see README.md)."""
