"""Tables of this domain (filled in as it is built)."""
