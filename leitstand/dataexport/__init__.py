"""Data export and import: a tenant and its subtree as one self-describing zip.

The customer's right to their data (EU Data Act; contracts 000 §5, 002 §20, 004 §5.3/§14):
`export` writes everything of a tenant subtree, `importer` loads such a zip into another
Leitstand instance, `jobs` runs exports in the background for the API and the portal.
"""
