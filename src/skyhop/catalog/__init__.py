"""Price catalogs: every offer on the market, indexed for fast filtering."""
